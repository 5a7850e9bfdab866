// yaml-oracle: what Kubernetes makes of YAML snippets, for test/fixtures/kubernetes-yaml.json.
// kubectl and the API server turn YAML into JSON with sigs.k8s.io/yaml's YAMLToJSON (go-yaml
// v2 underneath); this runs exactly that on each snippet of a JSON list read from stdin and
// prints a JSON list of {"yaml", "json"} or {"yaml", "error"}. See README.md beside it.
package main

import (
	"encoding/json"
	"os"

	"sigs.k8s.io/yaml"
)

type outcome struct {
	YAML  string           `json:"yaml"`
	JSON  *json.RawMessage `json:"json,omitempty"`
	Error string           `json:"error,omitempty"`
}

func main() {
	var snippets []string
	if err := json.NewDecoder(os.Stdin).Decode(&snippets); err != nil {
		panic(err)
	}
	outcomes := make([]outcome, 0, len(snippets))
	for _, snippet := range snippets {
		converted, err := yaml.YAMLToJSON([]byte(snippet))
		if err != nil {
			outcomes = append(outcomes, outcome{YAML: snippet, Error: err.Error()})
			continue
		}
		raw := json.RawMessage(converted)
		outcomes = append(outcomes, outcome{YAML: snippet, JSON: &raw})
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(outcomes); err != nil {
		panic(err)
	}
}
