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
