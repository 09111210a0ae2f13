package soma.tools_test

import rego.v1

import data.soma.tools

test_known_tool_allowed if {
	tools.allow with input as {"resource": "web_search", "payload": {"query": "asyncio"}}
}

test_unknown_tool_denied if {
	not tools.allow with input as {"resource": "rm_rf", "payload": {}}
	"unknown tool \"rm_rf\"" in tools.deny with input as {"resource": "rm_rf", "payload": {}}
}

test_oversized_arguments_denied if {
	big := sprintf("%070000d", [0])
	not tools.allow with input as {"resource": "web_search", "payload": {"query": big}}
}

test_mcp_tool_known_and_needs_a_grant if {
	inp := {"tenant": "t1", "persona": "default", "resource": "time_get_current_time", "payload": {}}
	tools.allow with input as inp
	tools.checks == {{"user": "persona:t1/default", "relation": "user", "object": "tool:t1/time_get_current_time"}} with input as inp
}

test_undeclared_mcp_server_unknown if {
	not tools.allow with input as {"resource": "weather_forecast", "payload": {}}
}
