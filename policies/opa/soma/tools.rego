# Payload rules for tool requests. Input: {tenant, persona, action, resource, payload, context}.
package soma.tools

import rego.v1

# Tools the platform knows; anything else is denied with a reason.
known_tools := {"code_execution", "web_search", "http_fetch", "memory_save", "memory_load", "document_query"}

max_argument_bytes := 65536

default allow := false

allow if count(deny) == 0

deny contains msg if {
	not input.resource in known_tools
	msg := sprintf("unknown tool %q", [input.resource])
}

deny contains msg if {
	count(json.marshal(input.payload)) > max_argument_bytes
	msg := sprintf("arguments exceed %d bytes", [max_argument_bytes])
}
