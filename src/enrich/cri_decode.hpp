// SPDX-License-Identifier: GPL-2.0-only
// cri_metadata.hpp's decoding, on messages already parsed (by gRPC, in cri_api.cpp).
#pragma once

#include "mxwatch/enrich/cri_metadata.hpp"

#include "cri_subset.pb.h"

namespace mxwatch::cri
{

std::optional<CriContainer> decode(const runtime::v1::ContainerStatusResponse &response);
bool decode(const runtime::v1::PodSandboxStatusResponse &response, ContainerMetadata &metadata);
std::optional<CriVersion> decode(const runtime::v1::VersionResponse &response);

} // namespace mxwatch::cri
