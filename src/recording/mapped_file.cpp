// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/recording/mapped_file.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mxwatch {
namespace {

// What the handler may read: plain atomics, no locks (it runs in a signal).
struct Guarded {
	std::atomic<std::uintptr_t> begin{0}, end{0};
	std::atomic<bool> shrank{false};
};
constexpr int kSlots = 8;
std::array<Guarded, kSlots> guarded;
std::mutex slots_mutex; // taking and giving back slots, never in the handler
struct sigaction previous {};

void on_sigbus(int signo, siginfo_t *info, void *context)
{
	const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
	for (auto &g : guarded) {
		const std::uintptr_t begin = g.begin.load(std::memory_order_acquire);
		if (begin == 0 || addr < begin || addr >= g.end.load(std::memory_order_acquire))
			continue;
		const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
		void *at = reinterpret_cast<void *>(addr & ~(page - 1));
		if (::mmap(at, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
			g.shrank.store(true, std::memory_order_release);
			return; // the load runs again, on zeros
		}
	}
	// Not ours: what was there before. A default action takes effect when the
	// faulting instruction runs again.
	if (previous.sa_flags & SA_SIGINFO) {
		if (previous.sa_sigaction) {
			previous.sa_sigaction(signo, info, context);
			return;
		}
	} else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(signo);
		return;
	}
	::signal(SIGBUS, SIG_DFL);
}

void install_handler_once()
{
	static std::once_flag once;
	std::call_once(once, [] {
		struct sigaction action {};
		action.sa_sigaction = on_sigbus;
		action.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&action.sa_mask);
		::sigaction(SIGBUS, &action, &previous);
	});
}

} // namespace

std::optional<MappedFile> MappedFile::map(int fd)
{
	struct stat st {
	};
	if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
		return std::nullopt;
	const auto size = static_cast<std::size_t>(st.st_size);
	std::lock_guard lock(slots_mutex);
	int slot = -1;
	for (int i = 0; i < kSlots && slot < 0; i++)
		if (guarded[i].begin.load() == 0)
			slot = i;
	if (slot < 0)
		return std::nullopt;
	install_handler_once();
	void *data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (data == MAP_FAILED)
		return std::nullopt;
	::madvise(data, size, MADV_SEQUENTIAL);
	auto &g = guarded[slot];
	g.shrank.store(false);
	g.end.store(reinterpret_cast<std::uintptr_t>(data) + size, std::memory_order_release);
	g.begin.store(reinterpret_cast<std::uintptr_t>(data), std::memory_order_release);
	return MappedFile(static_cast<const char *>(data), size, slot);
}

MappedFile::MappedFile(MappedFile &&other) noexcept : data_(other.data_), size_(other.size_), slot_(other.slot_)
{
	other.data_ = nullptr;
	other.slot_ = -1;
}

MappedFile::~MappedFile()
{
	if (slot_ < 0)
		return;
	std::lock_guard lock(slots_mutex);
	guarded[slot_].begin.store(0, std::memory_order_release); // the handler no longer claims it
	::munmap(const_cast<char *>(data_), size_);
}

bool MappedFile::shrank() const
{
	return slot_ >= 0 && guarded[slot_].shrank.load(std::memory_order_acquire);
}

} // namespace mxwatch
