// SPDX-License-Identifier: GPL-2.0-only
// Alerts to Prometheus Alertmanager (API v2: POST /api/v2/alerts, a JSON array).
//
// Alertmanager resolves an alert whose endsAt has passed, so an alert stays
// firing only while it is sent again: each first or ongoing alert is posted with
// endsAt = now + resend * resend_validity (4 min), or the ongoing interval and one
// resend if longer (6 min by default: a reload makes a new sink that knows no
// active alert, and the next ongoing alert must arrive before they expire), and
// the sink re-posts every active alert every `resend` (60 s).
// A resolved alert is posted once with endsAt = its time, and no longer re-sent.
// If mxwatch stops, its alerts resolve by themselves at their last endsAt (the
// MxwatchDown rule says why). An alert no ongoing alert confirmed for
// `stale_after` (its resolution was dropped from a full queue) stops being re-sent.
#include "mxwatch/alerts/alertmanager_message.hpp"
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/sinks/http_post.hpp"
#include "mxwatch/util/errors.hpp"

#include <fmt/format.h>
#include <map>
#include <spdlog/spdlog.h>

namespace mxwatch
{
namespace
{

using Steady = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

// Alerts re-sent at most: one per miner on the node, so far more than ever needed.
constexpr std::size_t kMaxActive = 4096;
// After a failed re-send, the next attempt comes this soon at the latest.
constexpr auto kRefreshRetry = std::chrono::seconds(10);

HttpUrl api_url(HttpUrl url)
{
	// The base URL (http://alertmanager:9093), or one with a route prefix
	// (http://host/alertmanager), or the API path itself.
	std::string path = url.path.substr(0, url.path.find('?'));
	while (path.ends_with('/'))
		path.pop_back();
	if (!path.ends_with(kAlertmanagerPath))
		path += kAlertmanagerPath;
	url.path = path;
	return url;
}

class AlertmanagerSink final : public AlertSink
{
public:
	AlertmanagerSink(HttpUrl url, const HttpSinkOptions &options)
	    : poster_(api_url(std::move(url)), options), options_(options),
	      validity_(std::max<Steady::duration>(options.resend * std::max(1u, options.resend_validity),
	                                           options.ongoing_interval + options.resend))
	{
	}

	Delivery write(const RenderedAlert &alert) override
	{
		nlohmann::json labels = alertmanager_labels(alert);
		// One process's alert is one entry whatever its severity: the severity
		// label may change as evidence comes in (and a Close has none of its own).
		nlohmann::json identity = labels;
		identity.erase("severity");
		const std::string key = identity.dump();
		const auto found = active_.find(key);
		Wall::time_point starts = alert.started;
		if (found != active_.end())
			starts = std::min(starts, found->second.starts);
		if (alert.stage == AlertStage::Resolved) {
			// The labels it fired with, so that Alertmanager resolves that alert.
			if (found != active_.end())
				labels = found->second.labels;
			else
				labels = std::move(identity);
			const Wall::time_point ends = std::max(alert.time, starts);
			const Delivery result = post(nlohmann::json::array(
			    {alertmanager_alert(labels, alertmanager_annotations(alert), starts, ends)}));
			if (result != Delivery::Retry && found != active_.end())
				active_.erase(found);
			return result;
		}
		nlohmann::json body = nlohmann::json::array(
		    {alertmanager_alert(labels, alertmanager_annotations(alert), starts, Wall::now() + validity_)});
		// A new severity is a new alert for Alertmanager: the old one ends now.
		if (found != active_.end() && found->second.labels != labels)
			body.push_back(alertmanager_alert(found->second.labels, found->second.annotations,
							  found->second.starts, std::max(Wall::now(), found->second.starts)));
		const Delivery result = post(body);
		if (result == Delivery::Rejected) {
			if (found != active_.end())
				active_.erase(found);
			return result;
		}
		if (found == active_.end() && active_.size() >= kMaxActive) {
			if (!warned_full_)
				spdlog::warn("alert sink {}: {} alerts are active, more are not re-sent", name(),
				             kMaxActive);
			warned_full_ = true;
			return result;
		}
		if (active_.empty())
			next_refresh_ = Steady::now() + options_.resend;
		active_[key] = {std::move(labels), alertmanager_annotations(alert), starts, Steady::now()};
		return result;
	}

	std::optional<Steady::time_point> refresh_due() const override
	{
		if (active_.empty())
			return std::nullopt;
		return next_refresh_;
	}

	void refresh() override
	{
		const auto now = Steady::now();
		for (auto it = active_.begin(); it != active_.end();) {
			if (now - it->second.confirmed > options_.stale_after) {
				spdlog::info(
				    "alert sink {}: no ongoing alert for {} for {} s: no longer re-sent", name(),
				    it->first,
				    std::chrono::duration_cast<std::chrono::seconds>(options_.stale_after).count());
				it = active_.erase(it);
			} else {
				++it;
			}
		}
		if (active_.empty())
			return;
		nlohmann::json body = nlohmann::json::array();
		const Wall::time_point ends = Wall::now() + validity_;
		for (const auto &[key, alert] : active_)
			body.push_back(alertmanager_alert(alert.labels, alert.annotations, alert.starts, ends));
		const Delivery result = post(body);
		if (result == Delivery::Delivered) {
			next_refresh_ = now + options_.resend;
			if (refresh_failing_)
				spdlog::info("alert sink {}: re-sending the active alerts works again", name());
			refresh_failing_ = false;
			return;
		}
		next_refresh_ = now + std::min<Steady::duration>(options_.resend, kRefreshRetry);
		if (!refresh_failing_)
			spdlog::warn("alert sink {}: re-sending {} active alert{} failed ({}); trying again, and "
			             "Alertmanager keeps them firing until {} s after the last success",
			             name(), active_.size(), active_.size() == 1 ? "" : "s", poster_.last_error(),
			             std::chrono::duration_cast<std::chrono::seconds>(validity_).count());
		refresh_failing_ = true;
	}

	std::string last_error() const override { return poster_.last_error(); }
	std::string name() const override
	{
		const HttpUrl &url = poster_.url();
		return "alertmanager:" + url.origin() + url.path;
	}

private:
	struct Active {
		nlohmann::json labels;
		nlohmann::json annotations;
		Wall::time_point starts;
		Steady::time_point confirmed; // the last first or ongoing alert
	};

	Delivery post(const nlohmann::json &alerts)
	{
		return poster_.post(alerts.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace),
		                    "application/json");
	}

	HttpPoster poster_;
	HttpSinkOptions options_;
	Steady::duration validity_;
	std::map<std::string, Active> active_; // by labels but severity
	Steady::time_point next_refresh_{};
	bool refresh_failing_ = false;
	bool warned_full_ = false;
};

} // namespace

std::unique_ptr<AlertSink> make_alertmanager_sink(const std::string &text, const HttpSinkOptions &options)
{
	std::string error;
	auto url = parse_http_url(text, error);
	if (!url)
		throw SetupError(fmt::format("--sink alertmanager:{}: {}", text, error));
	return std::make_unique<AlertmanagerSink>(std::move(*url), options);
}

} // namespace mxwatch
