// SPDX-License-Identifier: GPL-2.0-only
// Alerts as Prometheus Alertmanager sees them (API v2, POST /api/v2/alerts).
// Pure, so the encoding is unit-tested apart from HTTP (alertmanager_sink.cpp).
//
// Alertmanager identifies an alert by its labels alone: they must be the same for
// a process's first, ongoing and resolved alerts, so they carry no stage and no
// event id. Each label is set only when its fact is known:
//
//   alertname  RandomXMiner            severity  critical
//   host       host.name               pid       process.pid
//   process    process.name            container container.name, else container.id
//   namespace  orchestrator.namespace  pod       orchestrator.resource.name, else .id (the pod UID)
//   image      container.image.name
//
// Annotations (free text, they may change): summary (the alert's sentence),
// reason, evidence, event_id, entity_id, executable.
#pragma once

#include "mxwatch/alerts/alert_format.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

namespace mxwatch
{

inline constexpr const char *kAlertmanagerAlertName = "RandomXMiner";
inline constexpr const char *kAlertmanagerPath = "/api/v2/alerts";

nlohmann::json alertmanager_labels(const RenderedAlert &alert);
nlohmann::json alertmanager_annotations(const RenderedAlert &alert);

// One element of the POST body: {"labels", "annotations", "startsAt", "endsAt"}.
// endsAt in the future: firing until then unless sent again; in the past: resolved.
nlohmann::json alertmanager_alert(const nlohmann::json &labels, const nlohmann::json &annotations,
                                  std::chrono::system_clock::time_point starts_at,
                                  std::chrono::system_clock::time_point ends_at);

} // namespace mxwatch
