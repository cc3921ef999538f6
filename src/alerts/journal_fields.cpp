// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/alerts/journal_fields.hpp"

#include "mxwatch/alerts/syslog_message.hpp"

namespace mxwatch {

std::string journal_field_name(std::string_view ecs_name)
{
	std::string name = "MXWATCH_";
	// mxwatch's own fields are already under mxwatch.*: MXWATCH_SCORE, not MXWATCH_MXWATCH_SCORE.
	if (ecs_name.starts_with("mxwatch."))
		ecs_name.remove_prefix(8);
	for (char c : ecs_name) {
		if (c >= 'a' && c <= 'z')
			name += static_cast<char>(c - 'a' + 'A');
		else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			name += c;
		else
			name += '_';
	}
	return name.substr(0, 64); // journald's limit on field names
}

std::vector<std::string> journal_fields(const RenderedAlert &alert)
{
	std::vector<std::string> fields;
	fields.push_back("MESSAGE=" + alert.message);
	fields.push_back("MESSAGE_ID=" + std::string(kJournalMessageId));
	fields.push_back("PRIORITY=" + std::to_string(syslog_severity(alert.severity)));
	fields.push_back("SYSLOG_IDENTIFIER=mxwatch");
	fields.push_back("MXWATCH_DOCUMENT=" + alert.document);
	for (const auto &[name, value] : alert.fields)
		fields.push_back(journal_field_name(name) + "=" + value);
	return fields;
}

} // namespace mxwatch
