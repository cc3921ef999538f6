// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-interval: benign. Interval arithmetic with Boost.Interval, which rounds
 * each lower bound downward and each upper bound upward and returns to
 * round-to-nearest in between: rounding modes 0, 1 and 2, toggled constantly.
 *
 *   mxw-interval [--seconds 10]
 */
#include "common.h"

#include <boost/numeric/interval.hpp>

using Interval = boost::numeric::interval<double>;

int main(int argc, char **argv)
{
	const double deadline = workload_now() + workload_arg(argc, argv, "--seconds", 10);
	Interval acc(0.0);
	double width = 0;

	while (workload_now() < deadline) {
		acc = Interval(0.0);
		for (int i = 1; i < 20000; i++) {
			Interval x(1.0 / i, 1.0 / i + 1e-12);
			acc += x * x / (x + 1.0);
			acc = sqrt(acc * acc + x);
		}
		width += boost::numeric::width(acc);
	}
	printf("%g %g\n", boost::numeric::median(acc), width);
	return 0;
}
