package ativo

import "encoding/json"

// SupportedModelVersion is the Ativo data model version this build
// understands (ativo-api.md §3: isArchived on teams, programs and periods).
const SupportedModelVersion = 9

// Wire structs: the shapes the Ativo documentation shows for data model 9
// (ativo-api.md §2). The client does not unmarshal into them, since it
// streams lists and keeps only counts; they document the wire format and
// are what the fake server in ativotest serves. Pointer fields are the
// ones documented or inferred as optional.

// IndexItem is one element of an index list (GET /team, /program, /period).
type IndexItem struct {
	ID   int64  `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
}

// Team is one team configuration (GET /teams, /team/{id}).
type Team struct {
	ID           int64           `json:"id"`
	Key          string          `json:"key"`
	Name         string          `json:"name"`
	Type         string          `json:"type"`                   // "BOARD"; custom teams: "CUSTOM" (inferred)
	Board        *Board          `json:"board,omitempty"`        // board-based teams only
	Mode         *string         `json:"mode,omitempty"`         // "SCRUM", "KANBAN" (inferred)
	Estimation   *string         `json:"estimation,omitempty"`   // "STORY_POINTS", ...
	ConfigFilter json.RawMessage `json:"configFilter,omitempty"` // custom teams only
	IsArchived   *bool           `json:"isArchived,omitempty"`   // since model 9
}

// Board references the Jira agile board of a board-based team.
type Board struct {
	ID int64 `json:"id"`
}

// Program is one program (ART) configuration (GET /programs, /program/{id}).
type Program struct {
	ID             int64           `json:"id"`
	Key            string          `json:"key"`
	Name           string          `json:"name"`
	CombinedFilter json.RawMessage `json:"combinedFilter,omitempty"`
	IsArchived     *bool           `json:"isArchived,omitempty"`
}

// Period is one period (PI) configuration (GET /periods). Its schema is
// undocumented beyond key, name and isArchived.
type Period struct {
	ID         int64  `json:"id"`
	Key        string `json:"key"`
	Name       string `json:"name"`
	IsArchived *bool  `json:"isArchived,omitempty"`
}

// Results: what the client returns. Only counts are kept, so memory does
// not grow with the number of items.

// TeamConfig is one combination of team enum values. Values are the enum
// literal verbatim, "" when absent or null, "other" when unusable as a
// label value; Archived is "true", "false" or "".
type TeamConfig struct {
	Type       string
	Mode       string
	Estimation string
	Archived   string
}

// TeamSummary counts the teams of a /teams answer.
type TeamSummary struct {
	Total   int
	Configs map[TeamConfig]int
}

// ArchiveCounts counts programs or periods by isArchived ("true",
// "false", or "" when the answer was an index without the flag).
type ArchiveCounts struct {
	Total      int
	ByArchived map[string]int
}

// ModelVersion is the answer of the version endpoint.
type ModelVersion struct {
	// Version is the model version from the body, or from the
	// X-API-Model-Version header when the endpoint is absent; 0 when
	// neither gave one.
	Version int
	// Absent is true when the endpoint answered 404 (now or within the
	// last recheck interval): older Ativo and Data Center do not have it.
	Absent bool
	// Requested is false when no request was sent (endpoint known absent).
	Requested bool
}
