// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/oci_bundle.hpp"

#include "mxwatch/util/fd.hpp"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mxwatch
{
namespace
{

// containerd namespaces looked through (k8s.io first: the CRI plugin's).
constexpr std::size_t kMaxNamespaces = 64;

// One path component below `dir`, never through a symbolic link.
UniqueFd open_below(int dir, const char *name, int flags)
{
	return UniqueFd(::openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC));
}

RuntimeAnswer failed(std::string error)
{
	RuntimeAnswer answer;
	answer.kind = RuntimeAnswer::Kind::Failed;
	answer.error = std::move(error);
	return answer;
}

RuntimeAnswer not_found()
{
	RuntimeAnswer answer;
	answer.kind = RuntimeAnswer::Kind::NotFound;
	return answer;
}

// An open bundle directory's config.json, decoded.
RuntimeAnswer read_config(int bundle, const std::string &where)
{
	const UniqueFd file = open_below(bundle, "config.json", O_RDONLY | O_NONBLOCK);
	if (!file) {
		if (errno == ENOENT)
			return not_found();
		return failed(fmt::format("{}/config.json: {}", where,
		                          errno == ELOOP ? "is a symbolic link" : std::strerror(errno)));
	}
	struct stat st {};
	if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode))
		return failed(fmt::format("{}/config.json is not a regular file", where));
	if (static_cast<std::size_t>(st.st_size) > kMaxOciConfigBytes)
		return failed(fmt::format("{}/config.json is larger than {} bytes", where, kMaxOciConfigBytes));
	const std::string body = read_bounded(file.get(), kMaxOciConfigBytes + 1);
	if (body.size() > kMaxOciConfigBytes)
		return failed(fmt::format("{}/config.json grew past {} bytes", where, kMaxOciConfigBytes));
	auto metadata = decode_oci_config(body); // a read cut short by an error is not JSON
	if (!metadata)
		return failed(fmt::format("{}/config.json is not a JSON object", where));
	if (*metadata == ContainerMetadata{})
		return not_found();
	RuntimeAnswer answer;
	answer.kind = RuntimeAnswer::Kind::Found;
	answer.metadata = std::move(metadata);
	return answer;
}

} // namespace

bool OciBundles::present() const
{
	struct stat st {};
	return !root_.empty() && ::stat(root_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

RuntimeAnswer OciBundles::read(const std::string &id) const
{
	if (!lower_hex_id(id))
		return failed("the container id is not lower-case hex");
	// The configured root may be reached through a link (/var/run -> /run); nothing below it.
	const UniqueFd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!root)
		return errno == ENOENT ? not_found() : failed(fmt::format("{}: {}", root_, std::strerror(errno)));
	const auto bundle_in = [&](int parent, const std::string &where) -> RuntimeAnswer {
		const UniqueFd bundle = open_below(parent, id.c_str(), O_RDONLY | O_DIRECTORY);
		if (!bundle)
			return errno == ENOENT ? not_found()
			                       : failed(fmt::format("{}/{}: {}", where, id,
			                                            errno == ELOOP || errno == ENOTDIR
			                                                ? "is not a directory (or a symbolic link)"
			                                                : std::strerror(errno)));
		if (layout_ == BundleLayout::Containerd)
			return read_config(bundle.get(), where + "/" + id);
		const UniqueFd userdata = open_below(bundle.get(), "userdata", O_RDONLY | O_DIRECTORY);
		if (!userdata)
			return errno == ENOENT ? not_found()
			                       : failed(fmt::format("{}/{}/userdata: {}", where, id, std::strerror(errno)));
		return read_config(userdata.get(), where + "/" + id + "/userdata");
	};
	if (layout_ == BundleLayout::Crio)
		return bundle_in(root.get(), root_);

	// containerd: the id is unique within a namespace; the CRI plugin's is k8s.io.
	std::vector<std::string> namespaces{"k8s.io"};
	{
		const int listing = ::dup(root.get());
		DIR *dir = listing >= 0 ? ::fdopendir(listing) : nullptr;
		if (!dir) {
			if (listing >= 0)
				::close(listing);
			return failed(fmt::format("{}: {}", root_, std::strerror(errno)));
		}
		while (const dirent *entry = ::readdir(dir)) {
			const std::string name = entry->d_name;
			if (name == "." || name == ".." || name == "k8s.io")
				continue;
			if (namespaces.size() >= kMaxNamespaces)
				break;
			namespaces.push_back(name);
		}
		::closedir(dir);
	}
	RuntimeAnswer last = not_found();
	for (const auto &ns : namespaces) {
		const UniqueFd namespace_dir = open_below(root.get(), ns.c_str(), O_RDONLY | O_DIRECTORY);
		if (!namespace_dir)
			continue; // not a directory (or a link): no bundles of ours there
		RuntimeAnswer answer = bundle_in(namespace_dir.get(), root_ + "/" + ns);
		if (answer.kind == RuntimeAnswer::Kind::Found)
			return answer;
		if (answer.kind == RuntimeAnswer::Kind::Failed)
			last = std::move(answer);
	}
	return last;
}

} // namespace mxwatch
