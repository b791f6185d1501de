package sipunitest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/pbx/pbxtest"
	"github.com/pbxkit/pbxkit/provider"
	"github.com/pbxkit/pbxkit/sipuni"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func post(t *testing.T, s *Server, op string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := http.PostForm(s.URL()+op, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestHashCheck(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	good := url.Values{"antiaon": {"0"}, "phone": {"79031234567"}, "reverse": {"0"}, "sipnumber": {"201"}, "user": {DefaultAccount}}
	// The documented example order, computed by hand.
	good.Set("hash", md5hex("0+79031234567+0+201+"+DefaultAccount+"+"+DefaultSecret))

	tests := []struct {
		name   string
		form   func() url.Values
		status int
		body   string
	}{
		{"right hash", func() url.Values { return good }, 200, `"success":true`},
		{"upper-case value changed", func() url.Values {
			v := cloneValues(good)
			v.Set("phone", "79031234568")
			return v
		}, 500, "Неправильный хеш"},
		{"extra parameter not in the hash", func() url.Values {
			v := cloneValues(good)
			v.Set("extra", "1")
			return v
		}, 500, "Неправильный хеш"},
		{"other account", func() url.Values {
			v := cloneValues(good)
			v.Set("user", "054321")
			v.Set("hash", md5hex("0+79031234567+0+201+054321+"+DefaultSecret))
			return v
		}, 500, "Неправильный хеш"},
		{"no hash", func() url.Values {
			v := cloneValues(good)
			v.Del("hash")
			return v
		}, 500, "Неправильный хеш"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s, "callback/call_number", tt.form())
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, body, tt.body)
			assert.NotContains(t, body, DefaultSecret)
		})
	}
	reqs := s.APIRequests()
	require.Len(t, reqs, len(tests))
	assert.True(t, reqs[0].HashOK)
	assert.Equal(t, "callback/call_number", reqs[0].Operation)
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, "79031234567", reqs[0].Params.Get("phone"))
	for _, r := range reqs[1:] {
		assert.False(t, r.HashOK)
	}
	// Requests returns copies.
	reqs[0].Params.Set("phone", "x")
	assert.Equal(t, "79031234567", s.APIRequests()[0].Params.Get("phone"))
	// The neutral form: the request as it arrived.
	raw := s.Requests()[0]
	assert.Equal(t, "callback/call_number", raw.Operation)
	assert.Equal(t, "/api/callback/call_number", raw.Path)
	assert.Equal(t, good.Encode(), string(raw.Body))
	assert.Equal(t, "application/x-www-form-urlencoded", raw.Header.Get("Content-Type"))
}

func signed(s *Server, v url.Values) url.Values {
	v.Set("user", s.Account())
	v.Set("hash", sign(v, s.Secret()))
	return v
}

func TestCallControlAnswers(t *testing.T) {
	s := NewServer(Options{BadHashStatus: http.StatusOK})
	defer s.Close()
	tests := []struct {
		op   string
		form url.Values
		want string
	}{
		{"callback/call_number", url.Values{"phone": {"79031234567"}, "sipnumber": {"101"}, "reverse": {"0"}, "antiaon": {"0"}}, `"success":true`},
		{"callback/call_number", url.Values{"phone": {"+79031234567"}, "sipnumber": {"101"}, "reverse": {"0"}, "antiaon": {"0"}}, `"success":false`},
		{"callback/call_number", url.Values{"phone": {"79031234567"}, "sipnumber": {"101"}, "reverse": {"2"}, "antiaon": {"0"}}, `"success":false`},
		{"callback/call_number", url.Values{"phone": {"79031234567"}, "reverse": {"0"}, "antiaon": {"0"}}, `"success":false`},
		{"callback/call_tree", url.Values{"phone": {"79031234567"}, "sipnumber": {"101"}, "tree": {"000-1"}, "reverse": {"0"}}, `"success":true`},
		{"callback/call_tree", url.Values{"phone": {"79031234567"}, "sipnumber": {"101"}}, `"success":false`},
		{"callback/call_external", url.Values{"phoneFrom": {"1"}, "phoneTo": {"2"}, "sipnumber": {"101"}, "sipnumber2": {"101"}}, `"success":true`},
		{"events/call/hangup", url.Values{"callId": {"1.1"}}, `"success":true`},
		{"events/call/hangup", url.Values{}, `"success":false`},
		{"schema/list", url.Values{"type": {""}}, "Not Found"},
	}
	for _, tt := range tests {
		_, body := post(t, s, tt.op, signed(s, tt.form))
		assert.Contains(t, body, tt.want, "%s %v", tt.op, tt.form)
	}
}

func TestRecordingStreams(t *testing.T) {
	const size = 3*pbxtest.MP3FrameLen + 123
	s := NewServer(Options{})
	defer s.Close()
	s.AddRecording("1774372584.533596", size)
	resp, body := post(t, s, "statistic/record", signed(s, url.Values{"id": {"1774372584.533596"}}))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "audio/mpeg", resp.Header.Get("Content-Type"))
	assert.Equal(t, int64(size), resp.ContentLength)
	require.Len(t, body, size)
	assert.True(t, strings.HasPrefix(body, "ID3"))
	b := []byte(body)
	for _, off := range []int{10, 10 + pbxtest.MP3FrameLen, 10 + 2*pbxtest.MP3FrameLen} {
		assert.Equal(t, []byte{0xFF, 0xFB, 0x90, 0x64}, b[off:off+4], "frame header at %d", off)
	}
	want, _ := io.ReadAll(pbxtest.NewMP3Reader(size))
	assert.Equal(t, want, b)

	// The crm/record link of the events serves the same bytes.
	resp2, err := http.Get(s.RecordLink("1774372584.533596"))
	require.NoError(t, err)
	b2, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	assert.Equal(t, want, b2)

	s.SetRecordingPending("2.2")
	resp, body = post(t, s, "statistic/record", signed(s, url.Values{"id": {"2.2"}}))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	assert.Equal(t, int64(-1), s.Recordings()["2.2"])
	resp, _ = post(t, s, "statistic/record", signed(s, url.Values{"id": {"3.3"}}))
	assert.Equal(t, 404, resp.StatusCode)
}

func TestRecordingReaderAnySize(t *testing.T) {
	for _, size := range []int64{0, 1, 9, 10, 11, pbxtest.MP3FrameLen + 10, 16*pbxtest.MP3FrameLen + 10, 5 << 20} {
		r := RecordingReader(size)
		n, err := io.CopyBuffer(io.Discard, r, make([]byte, 1000))
		require.NoError(t, err)
		assert.Equal(t, size, n)
	}
	// Reads of odd sizes give the same bytes as one big read.
	whole, _ := io.ReadAll(RecordingReader(20000))
	var pieces bytes.Buffer
	r := RecordingReader(20000)
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		pieces.Write(buf[:n])
		if err == io.EOF {
			break
		}
	}
	assert.Equal(t, whole, pieces.Bytes())
	assert.Equal(t, int64(0), mustLen(RecordingReader(-5)))
}

func mustLen(r io.Reader) int64 {
	n, _ := io.Copy(io.Discard, r)
	return n
}

func TestExportCSV(t *testing.T) {
	loc := time.FixedZone("MSK", 3*3600)
	now := time.Date(2026, 3, 24, 15, 0, 0, 0, loc)
	s := NewServer(Options{Clock: func() time.Time { return now }, Location: loc})
	defer s.Close()
	export := func(extra url.Values) []string {
		v := url.Values{"from": {"24.03.2026"}, "to": {"24.03.2026"}, "type": {"0"}, "state": {"0"}}
		for k, vs := range extra {
			v[k] = vs
		}
		_, body := post(t, s, "statistic/export", signed(s, v))
		return strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	}
	lines := export(nil)
	require.Len(t, lines, 5)
	assert.True(t, strings.HasPrefix(lines[0], "\uFEFFТип;Статус;Время;Схема;Откуда;Куда;Кто ответил;Длительность звонка, сек"))
	assert.Equal(t, "Входящий;отвечен;24.03.2026 12:00:00;Входящая;79031234567;74951234567;101;103;95;8;;"+s.History()[0].RecordID+";;;;1;1", lines[1])

	assert.Len(t, export(url.Values{"type": {"1"}}), 3)
	assert.Len(t, export(url.Values{"type": {"2"}}), 2)
	assert.Len(t, export(url.Values{"state": {"1"}}), 2)
	assert.Len(t, export(url.Values{"state": {"2"}}), 4)
	assert.Len(t, export(url.Values{"timeFrom": {"12:30"}}), 4)
	assert.Len(t, export(url.Values{"from": {"25.03.2026"}, "to": {"25.03.2026"}}), 1)
	lines = export(url.Values{"names": {"1"}, "showTreeId": {"1"}, "numbersRinged": {"1"}, "outgoingLine": {"1"}, "hangupinitor": {"1"}, "numbersInvolved": {"1"}})
	assert.Contains(t, lines[0], "ID схемы звонка;Схема;Исходящая линия;Откуда;Куда;Кому звонили;Кто разговаривал;Кто ответил")
	assert.Contains(t, lines[0], "Инициатор завершения звонка")
	assert.Contains(t, lines[1], "101 ("+pbxtest.Employees()[0].Name+")")
	assert.Contains(t, lines[1], "101,102")

	_, body := post(t, s, "statistic/export", signed(s, url.Values{"from": {"2026-03-24"}, "to": {"24.03.2026"}}))
	assert.Equal(t, "Неверный формат даты", body)
}

func TestOperatorsCSV(t *testing.T) {
	s := NewServer(Options{})
	defer s.Close()
	s.SetEmployees([]Employee{{Extension: "201", Name: "Пётр; Первый", Status: "Свободен", CallState: "Разговаривает"}})
	_, body := post(t, s, "statistic/operators", signed(s, url.Values{}))
	assert.Equal(t, "Login;Name;Status;Call state\n201;Пётр Первый;Свободен;Разговаривает\n", body)
	assert.Len(t, s.Employees(), 1)
}

// hook is a webhook that records what the fake sends and answers with the
// given functions.
type hook struct {
	mu      sync.Mutex
	got     []*http.Request
	params  []url.Values
	onEvent func(w http.ResponseWriter, r *http.Request)
	onRoute func(w http.ResponseWriter, r *http.Request)
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.got = append(h.got, r)
	q := r.URL.Query()
	h.params = append(h.params, q)
	h.mu.Unlock()
	if q.Has("fromnum") {
		if h.onRoute != nil {
			h.onRoute(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"choice":0}`)
		return
	}
	if h.onEvent != nil {
		h.onEvent(w, r)
		return
	}
	_, _ = io.WriteString(w, `{"success":true}`)
}

func TestPlayScenarios(t *testing.T) {
	start := time.Unix(1774372584, 0)
	ring, talk := 8*time.Second, 95*time.Second
	tests := []struct {
		name   string
		call   pbxtest.Call
		extras Extras
		route  string
		events []string // event codes after the routing question
		rung   []string
		check  func(t *testing.T, sent []url.Values)
	}{
		{
			name:   "answered group ring",
			call:   pbxtest.Call{Scenario: pbxtest.GroupRing, Extensions: []string{"101", "102", "103"}, Start: start, Ring: ring, Talk: talk},
			extras: Extras{DTMF: "1", Label: "main"},
			route:  `{"choice":0}`,
			events: []string{"1", "1", "1", "1", "3", "4", "4", "2"},
			rung:   []string{"101", "102", "103"},
			check: func(t *testing.T, sent []url.Values) {
				q := sent[0]
				assert.Equal(t, url.Values{"fromnum": {DefaultCaller}, "tonum": {DefaultLine}, "dtmf": {"1"}, "label": {"main"}, "time": {"1774372584"}}, q)
				first, repeat := sent[1], sent[2]
				assert.Equal(t, "1774372585", repeat.Get("timestamp"))
				repeat.Set("timestamp", first.Get("timestamp"))
				assert.Equal(t, first, repeat, "identical but for the timestamp")
				assert.Equal(t, "102", sent[3].Get("short_dst_num"))
				assert.Equal(t, "101", sent[5].Get("short_dst_num"), "the first answers")
				end := sent[len(sent)-1]
				assert.Equal(t, "ANSWER", end.Get("status"))
				assert.Equal(t, "1774372592", end.Get("call_answer_timestamp"))
				assert.Equal(t, "1774372687", end.Get("timestamp"))
				assert.Equal(t, "101", end.Get("last_called"))
			},
		},
		{
			name:   "a group ring ignores the routing answer",
			call:   pbxtest.Call{Scenario: pbxtest.GroupRing, Extensions: []string{"101", "102"}, Start: start},
			route:  `{"choice":1,"number":"999"}`,
			events: []string{"1", "1", "1", "3", "4", "2"},
			rung:   []string{"101", "102"},
		},
		{
			name:   "routed to one extension",
			call:   pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Start: start},
			route:  `{"choice":1,"number":"103","name":"ООО Ромашка"}`,
			events: []string{"1", "3", "2"},
			rung:   []string{"103"},
		},
		{
			name:   "not routed: the first extension answers",
			call:   pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Extensions: []string{"102", "103"}, Start: start},
			route:  `{"choice":0}`,
			events: []string{"1", "3", "2"},
			rung:   []string{"102"},
		},
		{
			name:   "answered without a recording",
			call:   pbxtest.Call{Scenario: pbxtest.AnsweredIncoming, Start: start, NoRecord: true},
			route:  `{"choice":0}`,
			events: []string{"1", "3", "2"},
			rung:   []string{"101"},
			check: func(t *testing.T, sent []url.Values) {
				assert.Empty(t, sent[len(sent)-1].Get("call_record_link"))
			},
		},
		{
			name:   "routed but missed",
			call:   pbxtest.Call{Scenario: pbxtest.MissedIncoming, Start: start},
			route:  `{"choice":1,"number":"103"}`,
			events: []string{"1", "2"},
			rung:   []string{"103"},
			check: func(t *testing.T, sent []url.Values) {
				end := sent[len(sent)-1]
				assert.Equal(t, "NOANSWER", end.Get("status"))
				assert.Equal(t, "0", end.Get("call_answer_timestamp"))
				assert.Equal(t, DefaultLine+"_id265648", end.Get("dst_num"))
				assert.Equal(t, "1", end.Get("dst_type"))
				assert.Equal(t, "1774372604", end.Get("timestamp"), "the default 20 s of a missed call's ringing")
			},
		},
		{
			name:   "missed without routing node",
			call:   pbxtest.Call{Scenario: pbxtest.MissedIncoming, Start: start, SkipRouting: true, Extensions: []string{"101", "102"}},
			events: []string{"1", "1", "2"},
			rung:   []string{"101", "102"},
		},
		{
			name:   "transfer",
			call:   pbxtest.Call{Scenario: pbxtest.Transfer, Start: start, Ring: ring, Talk: 90 * time.Second},
			route:  `{"choice":0}`,
			events: []string{"1", "3", "4", "1", "3", "2"},
			rung:   []string{"101", "102"},
			check: func(t *testing.T, sent []url.Values) {
				leg := sent[3]
				assert.Equal(t, "101", leg.Get("short_dst_num"))
				assert.Equal(t, "ANSWER", leg.Get("status"))
				assert.Equal(t, "1774372637", leg.Get("timestamp"), "halfway through the talk")
				assert.Equal(t, "102", sent[4].Get("short_dst_num"))
				assert.Equal(t, "1774372645", sent[5].Get("timestamp"), "the second answers after ringing")
				end := sent[6]
				assert.Equal(t, "102", end.Get("short_dst_num"))
				assert.Equal(t, "102", end.Get("last_called"))
				assert.Equal(t, "101", end.Get("transfer_from"))
				assert.Equal(t, "1774372592", end.Get("call_answer_timestamp"), "the call's first answer")
				assert.Equal(t, "1774372690", end.Get("timestamp"))
			},
		},
		{
			name:   "transfer to the routed extension's colleague",
			call:   pbxtest.Call{Scenario: pbxtest.Transfer, Start: start, Extensions: []string{"101", "102"}},
			route:  `{"choice":1,"number":"102"}`,
			events: []string{"1", "3", "4", "1", "3", "2"},
			rung:   []string{"102", "101"},
		},
		{
			name:   "callback",
			call:   pbxtest.Call{Scenario: pbxtest.OutboundCallback, Start: start, Caller: "998948867473", Extensions: []string{"201"}},
			events: []string{"1", "1", "3", "2"},
			rung:   []string{"201"},
			check: func(t *testing.T, sent []url.Values) {
				assert.Equal(t, "2", sent[0].Get("src_type"))
				assert.Equal(t, DefaultAccount+"201", sent[0].Get("src_num"))
				assert.Equal(t, "+998948867473", sent[0].Get("pbxdstnum"))
				assert.Equal(t, "Исходящая", sent[0].Get("treeName"))
				// The final event names no party, as captured.
				for _, k := range []string{"src_num", "src_type", "short_src_num", "dst_num", "dst_type", "short_dst_num", "pbxdstnum"} {
					assert.Empty(t, sent[3][k], k)
				}
				assert.Equal(t, "201", sent[3].Get("last_called"))
				assert.Equal(t, "ANSWER", sent[3].Get("status"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{WebhookToken: "tk", WebhookUser: "u", WebhookPassword: "p"})
			defer s.Close()
			h := &hook{onRoute: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, tt.route) }}
			ts := httptest.NewServer(h)
			defer ts.Close()
			res, err := s.PlayWith(context.Background(), ts.URL+"/hook?keep=me", tt.call, tt.extras)
			require.NoError(t, err)
			assert.Equal(t, tt.rung, res.Rang)
			var codes []string
			sent := res.Sent
			if res.Asked {
				sent = sent[1:]
			}
			for _, v := range sent {
				codes = append(codes, v.Get("event"))
				assert.Equal(t, res.CallID, v.Get("call_id"))
			}
			assert.Equal(t, tt.events, codes)
			assert.Equal(t, len(res.Sent), res.Notifications)
			// Every request was a GET with the token, basic auth and the
			// URL's own query.
			for i, r := range h.got {
				assert.Equal(t, http.MethodGet, r.Method)
				assert.Equal(t, "tk", h.params[i].Get("token"))
				assert.Equal(t, "me", h.params[i].Get("keep"))
				u, p, ok := r.BasicAuth()
				assert.True(t, ok && u == "u" && p == "p")
			}
			assert.Len(t, h.got, len(res.Sent))
			if tt.check != nil {
				tt.check(t, res.Sent)
			}
			hist := s.History()
			last := hist[len(hist)-1]
			assert.Equal(t, res.CallID, last.RecordID)
			_, hasRec := s.Recordings()[res.CallID]
			assert.Equal(t, res.AnsweredBy != "" && !tt.call.NoRecord, hasRec)
			assert.Equal(t, hasRec, last.HasRecord)
			assert.Len(t, s.Plays(), 1)
			assert.Equal(t, res.Played, s.Plays()[0])
			assert.Equal(t, res, s.PlayResults()[0])
		})
	}
}

// TestPlayRefusesAnUnknownExtension: a routing answer naming an extension
// the PBX does not have used to be rung; it is now an error in
// Played.Err, and nothing rings.
func TestPlayRefusesAnUnknownExtension(t *testing.T) {
	for _, sc := range []pbxtest.Scenario{pbxtest.AnsweredIncoming, pbxtest.MissedIncoming, pbxtest.Transfer} {
		t.Run(sc.String(), func(t *testing.T) {
			s := NewServer(Options{})
			defer s.Close()
			h := &hook{onRoute: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, `{"choice":1,"number":"104","name":"Нет такого"}`)
			}}
			ts := httptest.NewServer(h)
			defer ts.Close()
			res, err := s.Play(context.Background(), ts.URL, pbxtest.Call{Scenario: sc})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `"104"`)
			assert.Equal(t, err, res.Err)
			assert.Equal(t, err, s.Plays()[0].Err)
			assert.Equal(t, "104", res.Route.Extension, "the answer as read")
			assert.Empty(t, res.Rang, "nothing rang")
			assert.Len(t, h.got, 1, "only the routing question was sent")
			assert.Len(t, s.History(), 4, "no call was logged")
		})
	}
}

func TestPlayRejectsUnexpectedAnswers(t *testing.T) {
	tests := []struct {
		name    string
		onRoute func(w http.ResponseWriter, r *http.Request)
		onEvent func(w http.ResponseWriter, r *http.Request)
		want    string
	}{
		{name: "route 500", onRoute: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, want: "HTTP 500"},
		{name: "route not JSON", onRoute: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "101") }, want: "not a JSON object"},
		{name: "route without choice", onRoute: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"number":"101"}`) }, want: "choice"},
		{name: "route choice 2", onRoute: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"choice":2}`) }, want: "choice"},
		{name: "route choice as string", onRoute: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"choice":"1"}`) }, want: "choice"},
		{name: "route number not a string", onRoute: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"choice":1,"number":101}`) }, want: "must be a string"},
		{name: "event 401", onEvent: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }, want: "HTTP 401"},
		{name: "event success false", onEvent: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"success":false}`) }, want: "success"},
		{name: "event success as string", onEvent: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"success":"true"}`) }, want: "success"},
		{name: "event empty body", onEvent: func(http.ResponseWriter, *http.Request) {}, want: "success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(Options{WebhookToken: "very-secret-token"})
			defer s.Close()
			h := &hook{onRoute: tt.onRoute, onEvent: tt.onEvent}
			ts := httptest.NewServer(h)
			defer ts.Close()
			res, err := s.PlayWith(context.Background(), ts.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming}, Extras{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "very-secret-token")
			assert.Equal(t, err, res.Err)
			assert.Equal(t, err, s.Plays()[0].Err)
			assert.Len(t, h.got, len(res.Sent), "stopped at the first bad answer")
		})
	}
	s := NewServer(Options{})
	defer s.Close()
	_, err := s.Play(context.Background(), "ftp://x", pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	assert.Error(t, err)
	_, err = s.Play(context.Background(), "http://127.0.0.1:1/", pbxtest.Call{Scenario: pbxtest.Scenario(42), SkipRouting: true})
	assert.ErrorContains(t, err, "unknown scenario")
	_, err = s.Play(context.Background(), "http://127.0.0.1:1/", pbxtest.Call{Scenario: pbxtest.OutboundCallback})
	assert.Error(t, err, "nothing listens on port 1")
	_, err = s.Play(context.Background(), "http://127.0.0.1:1/", pbxtest.Call{Scenario: pbxtest.Transfer, Extensions: []string{"101"}, SkipRouting: true})
	assert.ErrorContains(t, err, "two Extensions")
}

func TestSetWebhookPlaysCallbacks(t *testing.T) {
	s := NewServer(Options{})
	h := &hook{}
	ts := httptest.NewServer(h)
	defer ts.Close()
	s.SetWebhook(ts.URL)
	_, body := post(t, s, "callback/call_number", signed(s, url.Values{"phone": {"79031234567"}, "sipnumber": {"101"}, "reverse": {"0"}, "antiaon": {"0"}}))
	var a struct {
		Success bool   `json:"success"`
		ID      string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &a))
	assert.True(t, a.Success)
	assert.Len(t, a.ID, 32)
	// An unknown extension gets no call, like an offline softphone.
	post(t, s, "callback/call_number", signed(s, url.Values{"phone": {"79031234567"}, "sipnumber": {"999"}, "reverse": {"0"}, "antiaon": {"0"}}))
	s.Close() // waits for the play
	plays := s.Plays()
	require.Len(t, plays, 1)
	assert.NoError(t, plays[0].Err)
	assert.Equal(t, pbxtest.OutboundCallback, plays[0].Call.Scenario)
	assert.Len(t, h.got, 4)
	assert.Equal(t, "101", h.params[0].Get("short_src_num"))
	assert.Equal(t, "79031234567", h.params[0].Get("dst_num"))
	// The order id is in the call's history row, never in its events.
	hist := s.History()
	last := hist[len(hist)-1]
	assert.Equal(t, a.ID, last.OrderID)
	assert.Equal(t, plays[0].CallID, last.RecordID)
	for _, p := range h.params {
		for _, vs := range p {
			assert.NotContains(t, vs, a.ID)
		}
	}
}

// TestFakeContract: the pbxtest.Fake methods and the ways to open a
// provider against the fake (Config, DSN, the registry) agree, and a
// provider opened either way hears the fake's calls.
func TestFakeContract(t *testing.T) {
	ctx := context.Background()
	zone, err := time.LoadLocation("Asia/Almaty")
	require.NoError(t, err)
	s := NewServer(Options{WebhookToken: "tk", WebhookUser: "u", WebhookPassword: "p@ss word", Location: zone})
	defer s.Close()
	assert.Equal(t, sipuni.Name, s.Name())
	assert.True(t, strings.HasPrefix(s.URL(), "http://127.0.0.1:"), s.URL())
	assert.True(t, strings.HasSuffix(s.URL(), "/api/"))

	fromDSN, err := provider.Open(s.DSN())
	require.NoError(t, err)
	fromConfig, err := sipuni.New(s.Config())
	require.NoError(t, err)
	assert.Equal(t, zone, fromDSN.(*sipuni.Client).Location(), "the DSN names the zone")
	for name, p := range map[string]pbx.Provider{"DSN": fromDSN, "Config": fromConfig} {
		t.Run(name, func(t *testing.T) {
			subs, err := p.(pbx.SubscriberLister).Subscribers(ctx)
			require.NoError(t, err)
			require.Len(t, subs, 3)
			assert.Equal(t, pbxtest.Extensions(), []string{subs[0].Extension, subs[1].Extension, subs[2].Extension})

			var rec pbxtest.Recorder
			hook := httptest.NewServer(p.WebhookHandler(&rec, nil))
			defer hook.Close()
			played, err := s.Play(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
			require.NoError(t, err)
			assert.Equal(t, []string{"101"}, played.Rang)
			assert.Equal(t, "101", played.AnsweredBy)
			assert.Len(t, rec.EventsOf(played.CallID), 3)
			assert.Equal(t, pbxtest.DefaultTalk, rec.EventsOf(played.CallID)[2].TalkDuration)
		})
	}
	last := s.Requests()[len(s.Requests())-1]
	assert.Equal(t, "statistic/operators", last.Operation)

	// The registry starts it with the neutral options: the staff given,
	// a webhook token the DSN carries.
	f, err := pbxtest.Start(sipuni.Name, pbxtest.Options{Employees: []pbxtest.Employee{{Extension: "201", Name: "Пётр"}}, RecordingSize: 1000})
	require.NoError(t, err)
	defer f.Close()
	assert.Contains(t, f.DSN(), "webhook_token="+DefaultWebhookToken)
	p, err := provider.Open(f.DSN())
	require.NoError(t, err)
	subs, err := p.(pbx.SubscriberLister).Subscribers(ctx)
	require.NoError(t, err)
	assert.Equal(t, []pbx.Subscriber{{Extension: "201", Login: "201", Name: "Пётр", Raw: subs[0].Raw}}, subs)
	var rec pbxtest.Recorder
	rec.Router = pbx.RouterFunc(func(context.Context, pbx.RouteQuery) (pbx.Route, error) { return pbx.Route{Extension: "101"}, nil })
	hook := httptest.NewServer(p.WebhookHandler(&rec, &rec))
	defer hook.Close()
	_, err = f.Play(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.AnsweredIncoming})
	assert.ErrorContains(t, err, `"101"`, "101 is not in this staff")
	played, err := f.Play(ctx, hook.URL, pbxtest.Call{Scenario: pbxtest.MissedIncoming, SkipRouting: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"201"}, played.Rang, "the default extension comes from the staff")
	rc, err := p.(pbx.RecordingFetcher).FetchRecording(ctx, f.(*Server).History()[0].RecordID)
	require.NoError(t, err)
	n, _ := io.Copy(io.Discard, rc.Body)
	rc.Body.Close()
	assert.Equal(t, int64(1000), n, "the seeded recordings have the size asked for")
}
