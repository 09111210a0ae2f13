# Payload rules for tool requests. Input: {tenant, persona, action, resource, payload, context};
# `resource` is the tool name, `payload` its arguments. Rule ids refer to policies/constitution.md.
package soma.tools

import rego.v1

import data.soma.config
import data.soma.ids

# Tools the platform knows; anything else is denied with a reason.
known_tools := {"code_execution", "web_search", "http_fetch", "memory_save", "memory_load", "document_query"}

default allow := false

allow if count(deny) == 0

deny contains msg if {
	not input.resource in known_tools
	not mcp_tool(input.resource)
	msg := sprintf("unknown tool %q", [input.resource])
}

# A tool of a declared MCP server (personas/mcp_servers.yml): `<server>_<tool>`. These always
# need an OpenFGA grant to the tenant's persona (see `checks` below).
mcp_tool(name) if {
	some server in config.mcp_servers
	startswith(name, concat("", [server, "_"]))
}

deny contains msg if {
	count(json.marshal(input.payload)) > config.max_argument_bytes
	msg := sprintf("C3: arguments exceed %d bytes", [config.max_argument_bytes])
}

deny contains msg if {
	input.resource == "code_execution"
	timeout := input.context.timeout_s
	is_number(timeout)
	timeout > config.max_code_timeout_s
	msg := sprintf("C3: code_execution timeout %v s exceeds %v s", [timeout, config.max_code_timeout_s])
}

# C2: network-using tools reach only allow-listed hosts.
deny contains "C2: http_fetch needs a string url argument" if {
	input.resource == "http_fetch"
	not url_is_string
}

url_is_string if is_string(input.payload.url)

deny contains msg if {
	input.resource == "http_fetch"
	is_string(input.payload.url)
	not url_host(input.payload.url)
	msg := "C2: url must look like http(s)://host/..."
}

deny contains msg if {
	input.resource == "http_fetch"
	host := url_host(input.payload.url)
	not domain_allowed(host)
	msg := sprintf("C2: host %q is not on the allow-list", [host])
}

url_host(url) := lower(match[1]) if {
	match := regex.find_all_string_submatch_n(`^[Hh][Tt][Tt][Pp][Ss]?://([^/:?#@\s]+)(?:[:/?#]|$)`, url, 1)[0]
}

domain_allowed(host) if {
	some domain in config.http_allowed_domains
	host == domain
}

domain_allowed(host) if {
	some domain in config.http_allowed_domains
	endswith(host, concat("", [".", domain]))
}

# C2: relationship questions the engine asks OpenFGA before allowing.
checks contains check if {
	grant_required(input.resource)
	check := {
		"user": ids.persona(input.tenant, input.persona),
		"relation": "user",
		"object": ids.in_tenant("tool", input.tenant, input.resource),
	}
}

grant_required(name) if name in {t | some t in config.grant_required_tools}

grant_required(name) if mcp_tool(name)
