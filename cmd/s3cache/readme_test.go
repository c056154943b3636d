package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEverySetting checks that docs/configuration.md's
// "## Configuration" settings table (its first) has a row for every setting, with its flag and, where it has a
// fixed one, its default, and no row for a setting that does not exist.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal(`docs/configuration.md has no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	// The settings table is the first table of the section; subsections
	// (Metrics…) have tables of their own.
	rows := map[string][]string{} // by variable: the row's cells
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "|") {
			inTable = true
		} else if inTable {
			break
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), " | ") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows[strings.Trim(cells[0], "`")] = cells
	}
	known := map[string]bool{configEnv: true}
	var zero options
	for _, s := range zero.settings() {
		known[s.env] = true
		row, ok := rows[s.env]
		switch {
		case !ok:
			t.Errorf("docs/configuration.md's table has no row for %s", s.env)
		case len(row) < 4:
			t.Errorf("docs/configuration.md: the row for %s has %d cells, want 4: %q", s.env, len(row), row)
		case row[1] != "`-"+s.flag+"`":
			t.Errorf("docs/configuration.md: the row for %s gives the flag %s, want `-%s`", s.env, row[1], s.flag)
		case s.def != "" && !strings.Contains(row[2], "`"+s.def+"`"):
			t.Errorf("docs/configuration.md: the row for %s gives the default %s, want it to say `%s`", s.env, row[2], s.def)
		}
	}
	if _, ok := rows[configEnv]; !ok {
		t.Errorf("docs/configuration.md's table has no row for %s", configEnv)
	}
	for env := range rows {
		if !known[env] {
			t.Errorf("docs/configuration.md's table lists %s, which is not a setting", env)
		}
	}
}

// TestREADMEConfigExample checks that the example config file in
// docs/configuration.md's "## Config file" section has only known keys and
// single values.
func TestREADMEConfigExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Config file\n")
	if !ok {
		t.Fatal(`docs/configuration.md has no "## Config file" section`)
	}
	_, example, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal(`docs/configuration.md's "## Config file" has no yaml example`)
	}
	example, _, _ = strings.Cut(example, "```")
	var zero options
	values, err := parseConfigFile(strings.NewReader(example), "docs/configuration.md example", zero.settings())
	if err != nil {
		t.Fatal(err)
	}
	if len(values) < 5 {
		t.Errorf("the example sets %d keys; want a useful example", len(values))
	}
}
