// Package keboolatest is an in-process fake of the Keboola Storage API for tests: token
// verification, buckets and tables with metadata in the documented shapes, asynchronous
// exports whose jobs walk waiting → processing → success (or error), sliced gzip manifests,
// and injected faults (429 with Retry-After, 500s, slow answers, a token revoked mid-sync).
package keboolatest

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Column is one column of a fake table: its name and Keboola base type (empty: untyped).
type Column struct {
	Name     string
	BaseType string // STRING, INTEGER, NUMERIC, FLOAT, BOOLEAN, DATE, TIMESTAMP or ""
	Provider string // metadata provider; default "user"
	Length   string // KBC.datatype.length, e.g. "38,2"
}

// Table is a fake table.
type Table struct {
	ID          string // in.c-main.orders
	Description string
	Columns     []Column
	PrimaryKey  []string
	rows        []row
	version     int // bumped by every change, for the export cache
}

type row struct {
	vals []string // by column position; shorter rows are padded with ""
	ts   time.Time
	del  bool
}

// Fault is an injected answer for requests whose path starts with Prefix.
type Fault struct {
	Prefix     string
	Status     int
	RetryAfter string // Retry-After header value; empty for none
	Times      int    // how many requests get it (0: all)
}

// Server is the fake Storage API.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	token   string
	project string
	buckets []string
	tables  map[string]*Table
	order   []string
	jobs    map[int]*job
	files   map[int]*file
	cached  map[string]int // export parameters and table version → file id
	nextID  int
	faults  []*Fault
	now     func() time.Time
	calls   map[string]int

	// SliceRows is how many rows go into one slice (default 1000).
	SliceRows int
	// Gzip compresses the slices (default true).
	Gzip bool
	// Unsliced serves each export as one file instead of a manifest of slices.
	Unsliced bool
	// S3Entries makes manifest entries s3://kbc-sapi-files/... URLs (served by ResolveS3).
	S3Entries bool
	// PollsBeforeDone is how many polls a job answers waiting/processing (default 2).
	PollsBeforeDone int
	// Delay is added to every API answer (slow stack).
	Delay time.Duration
	// FailExport makes the export job of a table end in error with this message.
	FailExport map[string]string
	// RevokeAfterExports revokes the token once this many exports were started (0: never).
	RevokeAfterExports int
	exports            int
}

type job struct {
	cacheHit bool
	id       int
	table    string
	polls    int
	fileID   int
	errMsg   string
}

type file struct {
	id     int
	name   string
	slices [][]byte
}

// New starts a fake with one valid token.
func New(token string) *Server {
	s := &Server{token: token, project: "Fake project", tables: map[string]*Table{}, jobs: map[int]*job{},
		files: map[int]*file{}, cached: map[string]int{}, nextID: 1000, calls: map[string]int{}, SliceRows: 1000, Gzip: true,
		PollsBeforeDone: 2, FailExport: map[string]string{}, now: func() time.Time { return time.Now().UTC() }}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Token is the valid token.
func (s *Server) Token() string { s.mu.Lock(); defer s.mu.Unlock(); return s.token }

// Revoke invalidates the token: every later call answers 401.
func (s *Server) Revoke() { s.mu.Lock(); s.token = "\x00revoked"; s.mu.Unlock() }

// Inject adds a fault.
func (s *Server) Inject(f Fault) { s.mu.Lock(); s.faults = append(s.faults, &f); s.mu.Unlock() }

// ClearFaults removes every fault.
func (s *Server) ClearFaults() { s.mu.Lock(); s.faults = nil; s.mu.Unlock() }

// Calls is how many requests reached a path prefix (after faults).
func (s *Server) Calls(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.calls {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// Exports is how many exports were started.
func (s *Server) Exports() int { s.mu.Lock(); defer s.mu.Unlock(); return s.exports }

// AddTable adds (or replaces) a table; its bucket is the id without the last part.
func (s *Server) AddTable(t Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := bucketOf(t.ID)
	if !contains(s.buckets, b) {
		s.buckets = append(s.buckets, b)
	}
	if _, ok := s.tables[t.ID]; !ok {
		s.order = append(s.order, t.ID)
	}
	cp := t
	cp.rows = nil
	s.tables[t.ID] = &cp
}

// Upsert imports rows into a table at time at: rows with a primary key already present are
// replaced (and re-stamped), others appended. Each row lists values in column order.
func (s *Server) Upsert(tableID string, at time.Time, rows ...[]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[tableID]
	t.version++
	idx := map[string]int{}
	for i, r := range t.rows {
		if !r.del {
			idx[t.key(r.vals)] = i
		}
	}
	for _, vals := range rows {
		r := row{vals: append([]string(nil), vals...), ts: at.UTC()}
		if i, ok := idx[t.key(vals)]; ok && len(t.PrimaryKey) > 0 {
			t.rows[i] = r
			continue
		}
		idx[t.key(vals)] = len(t.rows)
		t.rows = append(t.rows, r)
	}
}

// Delete removes the rows whose first primary key column has one of the values.
func (s *Server) Delete(tableID string, pkValues ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[tableID]
	t.version++
	pk := t.colIndex(t.PrimaryKey[0])
	for i := range t.rows {
		if contains(pkValues, t.rows[i].vals[pk]) {
			t.rows[i].del = true
		}
	}
}

// AddColumn appends a column to a table; existing rows get "".
func (s *Server) AddColumn(tableID string, c Column) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[tableID]
	t.version++
	t.Columns = append(t.Columns, c)
}

func (t *Table) colIndex(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func (t *Table) key(vals []string) string {
	if len(t.PrimaryKey) == 0 {
		return fmt.Sprint(len(vals), vals)
	}
	var parts []string
	for _, k := range t.PrimaryKey {
		if i := t.colIndex(k); i >= 0 && i < len(vals) {
			parts = append(parts, vals[i])
		}
	}
	return strings.Join(parts, "\x00")
}

func bucketOf(id string) string {
	if i := strings.LastIndex(id, "."); i > 0 {
		return id[:i]
	}
	return id
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "code": code, "exceptionId": "exception-" + strconv.Itoa(status)})
}

var (
	reTable     = regexp.MustCompile(`^/v2/storage/tables/([^/]+)$`)
	reExport    = regexp.MustCompile(`^/v2/storage/tables/([^/]+)/export-async$`)
	reBucketTbl = regexp.MustCompile(`^/v2/storage/buckets/([^/]+)/tables$`)
	reJob       = regexp.MustCompile(`^/v2/storage/jobs/(\d+)$`)
	reFile      = regexp.MustCompile(`^/v2/storage/files/(\d+)$`)
	reManifest  = regexp.MustCompile(`^/download/(\d+)/manifest$`)
	reSlice     = regexp.MustCompile(`^/download/(\d+)/slice/(\d+)$`)
	reS3        = regexp.MustCompile(`^/s3/kbc-sapi-files/exp-15/(\d+)/slice(\d+)\.csv\.gz$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	s.mu.Lock()
	delay := s.Delay
	for _, f := range s.faults {
		if strings.HasPrefix(path, f.Prefix) && f.Times >= 0 {
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					f.Times = -1
				}
			}
			s.mu.Unlock()
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			if f.Status == http.StatusServiceUnavailable {
				writeJSON(w, f.Status, map[string]any{"status": "maintenance", "reason": "Planned maintenance", "estimatedEndTime": "2026-01-01T00:00:00+0000"})
				return
			}
			apiError(w, f.Status, "storage.fake", fmt.Sprintf("injected %d", f.Status))
			return
		}
	}
	s.calls[path]++
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if strings.HasPrefix(path, "/download/") || strings.HasPrefix(path, "/s3/") {
		s.serveDownload(w, r)
		return
	}
	s.mu.Lock()
	tokenOK := r.Header.Get("X-StorageApi-Token") == s.token
	s.mu.Unlock()
	if !tokenOK {
		apiError(w, http.StatusUnauthorized, "storage.tokenInvalid", "Invalid access token")
		return
	}
	switch {
	case path == "/v2/storage/tokens/verify" && r.Method == http.MethodGet:
		s.mu.Lock()
		body := map[string]any{"id": "44", "description": "fake token", "isMasterToken": true, "canManageBuckets": true,
			"expires": nil, "isExpired": false, "isDisabled": false, "bucketPermissions": map[string]string{},
			"owner": map[string]any{"id": 58, "name": s.project, "defaultBackend": "snowflake", "fileStorageProvider": "aws"},
			"admin": map[string]any{"id": 124, "name": "Fake admin", "role": "admin"}, "organization": map[string]any{"id": 123}}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, body)
	case path == "/v2/storage/buckets" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := []map[string]any{}
		for _, b := range s.buckets {
			stage, name, _ := strings.Cut(b, ".")
			out = append(out, map[string]any{"id": b, "name": name, "displayName": strings.TrimPrefix(name, "c-"),
				"stage": stage, "description": "", "backend": "snowflake", "created": "2024-01-15T10:20:30+0200",
				"lastChangeDate": nil})
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	case path == "/v2/storage/tables" && r.Method == http.MethodGet:
		s.listTables(w, "")
	case reBucketTbl.MatchString(path) && r.Method == http.MethodGet:
		s.listTables(w, reBucketTbl.FindStringSubmatch(path)[1])
	case reExport.MatchString(path) && r.Method == http.MethodPost:
		s.export(w, r, reExport.FindStringSubmatch(path)[1])
	case reTable.MatchString(path) && r.Method == http.MethodGet:
		id := reTable.FindStringSubmatch(path)[1]
		s.mu.Lock()
		t, ok := s.tables[id]
		var body map[string]any
		if ok {
			body = s.tableJSON(t)
		}
		s.mu.Unlock()
		if !ok {
			apiError(w, http.StatusNotFound, "storage.tables.notFound", fmt.Sprintf("The table \"%s\" was not found in the bucket \"%s\" in the project \"58\"", id, bucketOf(id)))
			return
		}
		writeJSON(w, http.StatusOK, body)
	case reJob.MatchString(path) && r.Method == http.MethodGet:
		s.pollJob(w, reJob.FindStringSubmatch(path)[1])
	case reFile.MatchString(path) && r.Method == http.MethodGet:
		s.fileDetail(w, reFile.FindStringSubmatch(path)[1])
	default:
		apiError(w, http.StatusNotFound, "storage.notFound", "Route not found: "+r.Method+" "+path)
	}
}

func (s *Server) listTables(w http.ResponseWriter, bucket string) {
	s.mu.Lock()
	out := []map[string]any{}
	for _, id := range s.order {
		if bucket != "" && bucketOf(id) != bucket {
			continue
		}
		out = append(out, s.tableJSON(s.tables[id]))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// tableJSON is the documented table shape; call with s.mu held.
func (s *Server) tableJSON(t *Table) map[string]any {
	cols := []string{}
	colMeta := map[string]any{}
	for _, c := range t.Columns {
		cols = append(cols, c.Name)
		if c.BaseType == "" {
			continue
		}
		p := c.Provider
		if p == "" {
			p = "user"
		}
		md := []map[string]any{{"id": "1", "key": "KBC.datatype.basetype", "value": c.BaseType, "provider": p, "timestamp": "2024-01-15T10:20:30+0200"},
			{"id": "2", "key": "KBC.datatype.nullable", "value": "1", "provider": p, "timestamp": "2024-01-15T10:20:30+0200"}}
		if c.Length != "" {
			md = append(md, map[string]any{"id": "3", "key": "KBC.datatype.length", "value": c.Length, "provider": p})
		}
		colMeta[c.Name] = md
	}
	var cm any = colMeta
	if len(colMeta) == 0 {
		cm = []any{} // Keboola's shape for "no column metadata"
	}
	var last any
	n := 0
	var lastTS time.Time
	for _, r := range t.rows {
		if !r.del {
			n++
		}
		if r.ts.After(lastTS) {
			lastTS = r.ts
		}
	}
	if !lastTS.IsZero() {
		last = lastTS.Format("2006-01-02T15:04:05-0700")
	}
	pk := t.PrimaryKey
	if pk == nil {
		pk = []string{}
	}
	meta := []map[string]any{}
	if t.Description != "" {
		meta = append(meta, map[string]any{"id": "1", "key": "KBC.description", "value": t.Description, "provider": "user"})
	}
	stage, bname, _ := strings.Cut(bucketOf(t.ID), ".")
	return map[string]any{"id": t.ID, "name": t.ID[strings.LastIndex(t.ID, ".")+1:], "displayName": t.ID[strings.LastIndex(t.ID, ".")+1:],
		"primaryKey": pk, "columns": cols, "rowsCount": n, "dataSizeBytes": n * 64,
		"created": "2024-01-15T10:20:30+0200", "lastImportDate": last, "lastChangeDate": last,
		"isAlias": false, "isTyped": false, "tableType": "table", "sourceTable": nil,
		"metadata": meta, "columnMetadata": cm,
		"bucket": map[string]any{"id": bucketOf(t.ID), "stage": stage, "name": bname, "displayName": strings.TrimPrefix(bname, "c-")}}
}

// exportParams reads the export body, JSON or form-encoded with PHP brackets.
type exportParams struct {
	Columns      string `json:"columns"`
	ChangedSince string `json:"changedSince"`
	WhereFilters []struct {
		Column   string   `json:"column"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	} `json:"whereFilters"`
}

func readExportParams(r *http.Request) (*exportParams, error) {
	var p exportParams
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	p.Columns, p.ChangedSince = r.PostForm.Get("columns"), r.PostForm.Get("changedSince")
	for i := 0; ; i++ {
		col := r.PostForm.Get(fmt.Sprintf("whereFilters[%d][column]", i))
		if col == "" {
			break
		}
		f := struct {
			Column   string   `json:"column"`
			Operator string   `json:"operator"`
			Values   []string `json:"values"`
		}{Column: col, Operator: r.PostForm.Get(fmt.Sprintf("whereFilters[%d][operator]", i))}
		for j := 0; ; j++ {
			v, ok := r.PostForm[fmt.Sprintf("whereFilters[%d][values][%d]", i, j)]
			if !ok {
				break
			}
			f.Values = append(f.Values, v...)
		}
		p.WhereFilters = append(p.WhereFilters, f)
	}
	return &p, nil
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, id string) {
	p, err := readExportParams(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "storage.validation", "Invalid request body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[id]
	if !ok {
		apiError(w, http.StatusNotFound, "storage.tables.notFound", fmt.Sprintf("The table \"%s\" was not found", id))
		return
	}
	var since time.Time
	if p.ChangedSince != "" {
		n, err := strconv.ParseInt(p.ChangedSince, 10, 64)
		if err != nil {
			apiError(w, http.StatusBadRequest, "storage.validation", "Invalid changedSince: "+p.ChangedSince)
			return
		}
		since = time.Unix(n, 0).UTC()
	}
	var colIdx []int
	if p.Columns != "" {
		for _, c := range strings.Split(p.Columns, ",") {
			i := t.colIndex(c)
			if i < 0 {
				apiError(w, http.StatusBadRequest, "storage.tables.columnNotFound", fmt.Sprintf("Column \"%s\" not found in table \"%s\"", c, id))
				return
			}
			colIdx = append(colIdx, i)
		}
	} else {
		for i := range t.Columns {
			colIdx = append(colIdx, i)
		}
	}
	type filt struct {
		col  int
		op   string
		vals []string
	}
	var filters []filt
	for _, f := range p.WhereFilters {
		i := t.colIndex(f.Column)
		if i < 0 {
			apiError(w, http.StatusBadRequest, "storage.tables.columnNotFound", fmt.Sprintf("Column \"%s\" not found in table \"%s\"", f.Column, id))
			return
		}
		op := f.Operator
		if op == "" {
			op = "eq"
		}
		if op != "eq" && op != "ne" {
			apiError(w, http.StatusBadRequest, "storage.validation", "Unsupported operator "+op)
			return
		}
		filters = append(filters, filt{i, op, f.Values})
	}
	s.nextID++
	jid := s.nextID
	j := &job{id: jid, table: id, errMsg: s.FailExport[id]}
	s.jobs[jid] = j
	s.exports++
	if s.RevokeAfterExports > 0 && s.exports >= s.RevokeAfterExports {
		s.token = "\x00revoked"
	}
	// Identical parameters on unchanged data give the previous file, as Keboola's cache does.
	cacheKey := fmt.Sprint(id, "|", t.version, "|", p.Columns, "|", since.Unix(), "|", filters, "|", s.SliceRows, s.Gzip, s.Unsliced)
	if fid, ok := s.cached[cacheKey]; ok && j.errMsg == "" {
		j.fileID, j.cacheHit = fid, true
	} else if j.errMsg == "" {
		// The data is taken when the export starts, as Keboola's snapshot does.
		var lines [][]string
		for _, rw := range t.rows {
			if rw.del || (!since.IsZero() && rw.ts.Before(since)) {
				continue
			}
			keep := true
			for _, f := range filters {
				v := value(rw.vals, f.col)
				in := contains(f.vals, v)
				if (f.op == "eq") != in {
					keep = false
				}
			}
			if !keep {
				continue
			}
			out := make([]string, len(colIdx))
			for k, i := range colIdx {
				out[k] = value(rw.vals, i)
			}
			lines = append(lines, out)
		}
		s.nextID++
		f := &file{id: s.nextID, name: id + ".csv.gz"}
		per := max(s.SliceRows, 1)
		for start := 0; start < len(lines) || (start == 0 && s.Unsliced); start += per {
			end := min(start+per, len(lines))
			if s.Unsliced {
				end = len(lines)
			}
			f.slices = append(f.slices, encodeCSV(lines[start:end], s.Gzip))
			if s.Unsliced {
				break
			}
		}
		s.files[f.id] = f
		j.fileID = f.id
		s.cached[cacheKey] = f.id
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": jid, "status": "waiting", "url": s.URL + "/v2/storage/jobs/" + strconv.Itoa(jid),
		"tableId": id, "operationName": "tableExport", "operationParams": map[string]any{}, "createdTime": s.now().Format("2006-01-02T15:04:05-0700"),
		"startTime": nil, "endTime": nil, "results": nil})
}

func value(vals []string, i int) string {
	if i < len(vals) {
		return vals[i]
	}
	return ""
}

func encodeCSV(lines [][]string, gz bool) []byte {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	cw := csv.NewWriter(w)
	for _, l := range lines {
		_ = cw.Write(l)
	}
	cw.Flush()
	if zw != nil {
		_ = zw.Close()
	}
	return buf.Bytes()
}

func (s *Server) pollJob(w http.ResponseWriter, id string) {
	n, _ := strconv.Atoi(id)
	s.mu.Lock()
	j, ok := s.jobs[n]
	if !ok {
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, "storage.jobs.notFound", "Job "+id+" not found")
		return
	}
	j.polls++
	body := map[string]any{"id": j.id, "tableId": j.table, "operationName": "tableExport", "results": []any{}, "error": nil}
	switch {
	case j.polls == 1 && s.PollsBeforeDone > 0:
		body["status"] = "waiting"
	case j.polls <= s.PollsBeforeDone:
		body["status"] = "processing"
		body["results"] = nil
	case j.errMsg != "":
		body["status"] = "error"
		body["error"] = map[string]any{"code": "storage.exportFailed", "message": j.errMsg, "exceptionId": "exception-job"}
	default:
		body["status"] = "success"
		body["results"] = map[string]any{"file": map[string]any{"id": j.fileID}, "cacheHit": j.cacheHit}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) fileDetail(w http.ResponseWriter, id string) {
	n, _ := strconv.Atoi(id)
	s.mu.Lock()
	f, ok := s.files[n]
	unsliced := s.Unsliced
	s.mu.Unlock()
	if !ok {
		apiError(w, http.StatusNotFound, "storage.files.notFound", "File "+id+" not found")
		return
	}
	u := s.URL + "/download/" + id + "/manifest?X-Amz-Signature=fake-signature"
	if unsliced {
		u = s.URL + "/download/" + id + "/slice/0?X-Amz-Signature=fake-signature"
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": f.id, "name": f.name, "isSliced": !unsliced, "isEncrypted": true,
		"fileType": "csv", "url": u, "provider": "aws", "region": "us-east-1", "sizeBytes": 0, "created": "2024-01-15T10:20:30+0200",
		"maxAgeDays": 15, "s3Path": map[string]any{"bucket": "kbc-sapi-files", "key": "exp-15/" + id + "/"},
		"credentials": map[string]any{"AccessKeyId": "AKIAFAKE", "SecretAccessKey": "fake", "SessionToken": "fake", "Expiration": "2030-01-01T00:00:00+0000"}})
}

func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	s.mu.Lock()
	defer s.mu.Unlock()
	var fid, slice int
	switch {
	case reManifest.MatchString(path):
		fid, _ = strconv.Atoi(reManifest.FindStringSubmatch(path)[1])
		f, ok := s.files[fid]
		if !ok {
			http.Error(w, "NoSuchKey", http.StatusNotFound)
			return
		}
		entries := []map[string]string{}
		for i := range f.slices {
			u := fmt.Sprintf("%s/download/%d/slice/%d?X-Amz-Signature=fake-signature", s.URL, fid, i)
			if s.S3Entries {
				u = fmt.Sprintf("s3://kbc-sapi-files/exp-15/%d/slice%04d.csv.gz", fid, i)
			}
			entries = append(entries, map[string]string{"url": u})
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
		return
	case reSlice.MatchString(path):
		m := reSlice.FindStringSubmatch(path)
		fid, _ = strconv.Atoi(m[1])
		slice, _ = strconv.Atoi(m[2])
	case reS3.MatchString(path):
		m := reS3.FindStringSubmatch(path)
		fid, _ = strconv.Atoi(m[1])
		slice, _ = strconv.Atoi(m[2])
	default:
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	f, ok := s.files[fid]
	if !ok || slice >= len(f.slices) {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(f.slices[slice])
}

// ResolveS3 maps an s3://kbc-sapi-files/... manifest entry to the fake's own download path,
// the way a real resolver maps it to a signed S3 GET. Use it as ClientOptions.ResolveSlice.
func (s *Server) ResolveS3(entry string) (string, error) {
	u, err := url.Parse(entry)
	if err != nil || u.Scheme != "s3" {
		return "", fmt.Errorf("not an s3 entry: %q", entry)
	}
	return s.URL + "/s3/" + u.Host + u.Path, nil
}

// TableIDs lists the fake's tables, sorted.
func (s *Server) TableIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.order...)
	sort.Strings(out)
	return out
}
