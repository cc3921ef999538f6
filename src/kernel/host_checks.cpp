// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/kernel/host_checks.hpp"

#include "mxwatch/util/capabilities.hpp"

#include <bpf/btf.h>
#include <cerrno>
#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <sys/utsname.h>
#include <unistd.h>

namespace mxwatch {
namespace {

constexpr const char *kVmlinuxBtf = "/sys/kernel/btf/vmlinux";
constexpr const char *kTracepointType = "btf_trace_x86_fpu_regs_deactivated";

HostCheck check_architecture()
{
	utsname uts{};
	uname(&uts);
	const std::string machine = uts.machine;
	if (machine == "x86_64")
		return {"architecture", true, "x86_64"};
	return {"architecture", false,
		fmt::format("this host is {}, but mxwatch reads the x86-64 MXCSR register and runs only on x86_64",
			    machine)};
}

HostCheck check_btf()
{
	if (access(kVmlinuxBtf, R_OK) == 0)
		return {"btf", true, kVmlinuxBtf};
	return {"btf", false,
		fmt::format("the kernel exposes no BTF ({} is missing); use a kernel built with "
			    "CONFIG_DEBUG_INFO_BTF=y (Debian's, Ubuntu's and RHEL's kernels since 5.10 are)",
			    kVmlinuxBtf)};
}

HostCheck check_tracepoint()
{
	btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return {"tracepoint", false, "cannot read the kernel's BTF to look for the x86_fpu_regs_deactivated tracepoint"};
	const bool found = btf__find_by_name_kind(vmlinux, kTracepointType, BTF_KIND_TYPEDEF) > 0;
	btf__free(vmlinux);
	if (found)
		return {"tracepoint", true, "x86_fpu:x86_fpu_regs_deactivated"};
	return {"tracepoint", false,
		"the kernel has no x86_fpu:x86_fpu_regs_deactivated tracepoint; mxwatch needs an x86-64 "
		"kernel 5.10 or newer built with CONFIG_X86 tracepoints"};
}

HostCheck check_privileges()
{
	const CapState caps = thread_capabilities();
	auto has = [&caps](cap_value_t cap) { return has_capability(caps.get(), cap, CAP_EFFECTIVE); };
	if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)))
		return {"privileges", true, geteuid() == 0 ? "root" : "CAP_BPF and CAP_PERFMON"};
	return {"privileges", false,
		"root or the capabilities CAP_BPF and CAP_PERFMON are needed to load the BPF program; "
		"run it with sudo or grant them (systemd: AmbientCapabilities=CAP_BPF CAP_PERFMON)"};
}

} // namespace

std::vector<HostCheck> check_host()
{
	std::vector<HostCheck> checks;
	checks.push_back(check_architecture());
	checks.push_back(check_btf());
	if (checks.back().ok)
		checks.push_back(check_tracepoint());
	checks.push_back(check_privileges());
	return checks;
}

std::optional<std::string> first_host_problem(const std::vector<HostCheck> &checks)
{
	for (const auto &check : checks)
		if (!check.ok)
			return check.detail;
	return std::nullopt;
}

} // namespace mxwatch
