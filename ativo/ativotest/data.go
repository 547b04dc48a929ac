package ativotest

import (
	"encoding/json"
	"fmt"

	"github.com/ativo-exporter/ativo_exporter/ativo"
)

// Data is what the fake serves.
type Data struct {
	Teams    []ativo.Team
	Programs []ativo.Program
	Periods  []ativo.Period
}

//go:fix inline

// Shapes follow the documented v9 examples (ativo-api.md §2.3–2.5): board
// teams carry only the board id; custom teams carry a filter, a mode and
// an estimation. "CUSTOM", "KANBAN", "MAN_DAYS" and "ISSUE_COUNT" are the
// inferred literals of the undocumented enum values.
var (
	jiraFilter   = json.RawMessage(`{"filterMode":"JIRA","jiraFilterBody":{"id":"10042"}}`)
	manualFilter = json.RawMessage(`{"filterMode":"MANUAL","manualFilterBody":{"projects":{"selectionOn":"PROJECT","values":[{"id":"10000"}]},"fieldFilters":[{"field":{"id":"customfield_10100"},"values":[{"id":"10200"}],"jqlGeneratePattern":"WHERE_FIELD_IN_VALUE_LABEL","operator":"IN"}]}}`)
	programScope = json.RawMessage(`{"mode":"PROGRAM_FILTER_EPIC_AND_ISSUES_UNDER_EPIC","epicMode":"PROGRAM_EPICS_IN_FILTER","epicFilter":{"filterMode":"JIRA","jiraFilterBody":{"id":"10001"}}}`)
)

func boardTeam(id int64, key, name string, archived bool) ativo.Team {
	return ativo.Team{ID: id, Key: key, Name: name, Type: "BOARD", Board: &ativo.Board{ID: 100 + id}, IsArchived: new(archived)}
}

func customTeam(id int64, key, name, mode, estimation string, filter json.RawMessage) ativo.Team {
	return ativo.Team{
		ID: id, Key: key, Name: name, Type: "CUSTOM",
		Mode: new(mode), Estimation: new(estimation), ConfigFilter: filter, IsArchived: new(false),
	}
}

// DemoData is the fixed data set of --demo, listed in the README:
// 12 teams (7 board, 5 custom; 1 board team archived; custom teams 3
// Scrum and 2 Kanban), 3 programs (1 archived) and 4 periods (1 archived).
func DemoData() Data {
	return Data{
		Teams: []ativo.Team{
			boardTeam(1, "LION", "Lions", false),
			boardTeam(2, "TIGER", "Tigers", false),
			boardTeam(3, "BEAR", "Bears", false),
			boardTeam(4, "WOLF", "Wolves", false),
			boardTeam(5, "EAGLE", "Eagles", false),
			boardTeam(6, "SHARK", "Sharks", false),
			boardTeam(7, "OWL", "Owls", true),
			customTeam(8, "FOX", "Foxes", "SCRUM", "STORY_POINTS", jiraFilter),
			customTeam(9, "LYNX", "Lynxes", "SCRUM", "STORY_POINTS", manualFilter),
			customTeam(10, "OTTER", "Otters", "SCRUM", "MAN_DAYS", jiraFilter),
			customTeam(11, "HAWK", "Hawks", "KANBAN", "ISSUE_COUNT", manualFilter),
			customTeam(12, "CROW", "Crows", "KANBAN", "STORY_POINTS", jiraFilter),
		},
		Programs: []ativo.Program{
			{ID: 1, Key: "PGRM1", Name: "Payments ART", CombinedFilter: programScope, IsArchived: new(false)},
			{ID: 2, Key: "PGRM2", Name: "Platform ART", CombinedFilter: programScope, IsArchived: new(false)},
			{ID: 3, Key: "PGRM0", Name: "Legacy ART", CombinedFilter: programScope, IsArchived: new(true)},
		},
		Periods: []ativo.Period{
			{ID: 1, Key: "2025Q4", Name: "PI 2025 Q4", IsArchived: new(true)},
			{ID: 2, Key: "2026Q1", Name: "PI 2026 Q1", IsArchived: new(false)},
			{ID: 3, Key: "2026Q2", Name: "PI 2026 Q2", IsArchived: new(false)},
			{ID: 4, Key: "2026Q3", Name: "PI 2026 Q3", IsArchived: new(false)},
		},
	}
}

// GenerateTeams makes n teams cycling through every documented and
// inferred shape, for benchmarks and size tests: half board teams, half
// custom teams with a project filter, about 300 bytes of JSON a team (a
// 100k-team /teams is about 30 MB, the size SPEC §9 measures).
func GenerateTeams(n int) []ativo.Team {
	teams := make([]ativo.Team, n)
	modes := []string{"SCRUM", "KANBAN"}
	estimations := []string{"STORY_POINTS", "MAN_DAYS", "ISSUE_COUNT"}
	for i := range teams {
		id := int64(i + 1)
		key := fmt.Sprintf("T%07d", id)
		name := fmt.Sprintf("Team %d of the Payments release train", id)
		if i%2 == 0 {
			teams[i] = customTeam(id, key, name, modes[(i/2)%2], estimations[(i/2)%3], manualFilter)
		} else {
			teams[i] = boardTeam(id, key, name, i%17 == 0)
		}
	}
	return teams
}
