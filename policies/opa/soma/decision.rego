# The one decision the policy engine asks for: POST /v1/data/soma/decision/result.
# `allow` covers the payload rules; `checks` are the relationship questions the engine
# must also see answered "yes" in OpenFGA before it allows.
package soma.decision

import rego.v1

import data.soma.config
import data.soma.content
import data.soma.ids
import data.soma.memory
import data.soma.tools

tool_actions := {"tool.request", "tool.execute"}

memory_actions := {"memory.write", "memory.read"}

deny contains msg if {
	not input.action in {a | some a in config.known_actions}
	msg := sprintf("C6: unknown action %q", [input.action])
}

deny contains msg if {
	input.action in tool_actions
	some msg in tools.deny
}

deny contains msg if {
	input.action in (tool_actions | {"memory.write"})
	some msg in content.deny
}

deny contains msg if {
	input.action in memory_actions
	some msg in memory.deny
}

checks contains check if {
	input.action in tool_actions
	some check in tools.checks
}

checks contains check if {
	input.action in memory_actions
	some check in memory.checks
}

checks contains check if {
	input.action == "requeue.resolve"
	check := {
		"user": sprintf("user:%s", [ids.fga(input.persona)]),
		"relation": "admin",
		"object": sprintf("tenant:%s", [ids.fga(input.tenant)]),
	}
}

result := {
	"allow": count(deny) == 0,
	"reasons": sort(deny),
	"checks": sort(checks),
	"policy_version": config.policy_version,
}
