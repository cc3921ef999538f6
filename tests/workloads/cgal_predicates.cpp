// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-cgal: benign. CGAL's exact predicates (Epick): a 2D Delaunay
 * triangulation of random points and orientation tests of nearly collinear
 * points, over and over. Each filtered predicate is evaluated in interval
 * arithmetic with the rounding mode set upward (Protect_FPU_rounding) and the
 * caller's mode restored after; near-degenerate inputs fall back to exact
 * arithmetic (GMP). Rounding modes 0 and 2, toggled constantly, like a
 * geometry service.
 *
 *   mxw-cgal [--seconds 10]
 */
#include "common.h"

#include <CGAL/Delaunay_triangulation_2.h>
#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <random>
#include <vector>

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using Point = Kernel::Point_2;

int main(int argc, char **argv)
{
	const double deadline = workload_now() + workload_arg(argc, argv, "--seconds", 10);
	std::mt19937_64 random(42);
	std::uniform_real_distribution<double> coordinate(-1.0, 1.0);
	std::size_t faces = 0, left_turns = 0;
	while (workload_now() < deadline) {
		std::vector<Point> points;
		points.reserve(20000);
		for (int i = 0; i < 20000; i++)
			points.emplace_back(coordinate(random), coordinate(random));
		CGAL::Delaunay_triangulation_2<Kernel> triangulation(points.begin(), points.end());
		faces += triangulation.number_of_faces();
		// Nearly collinear triples: the interval filter fails, the exact fallback decides.
		for (int i = 0; i < 2000; i++) {
			const double x = coordinate(random);
			const Point p(0.0, 0.0), q(1.0, 1.0), r(x, x + 1e-17 * (i % 3 - 1));
			left_turns += CGAL::orientation(p, q, r) == CGAL::LEFT_TURN;
		}
	}
	printf("%zu %zu\n", faces, left_turns);
	return 0;
}
