# C4: memory belongs to its persona. `resource` is the namespace, `payload` the memory.
package soma.memory

import rego.v1

import data.soma.config
import data.soma.ids

open_namespace if input.resource in {n | some n in config.open_memory_namespaces}

deny contains msg if {
	input.action == "memory.write"
	count(json.marshal(input.payload)) > config.max_memory_bytes
	msg := sprintf("C4: memory content exceeds %d bytes", [config.max_memory_bytes])
}

checks contains check if {
	not open_namespace
	relation := {"memory.write": "writer", "memory.read": "reader"}[input.action]
	check := {
		"user": ids.persona(input.tenant, input.persona),
		"relation": relation,
		"object": ids.in_tenant("memory_namespace", input.tenant, input.resource),
	}
}
