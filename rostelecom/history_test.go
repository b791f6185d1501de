package rostelecom

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/provider"
)

func zipped(t testing.TB, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	require.NoError(t, err)
	_, err = w.Write(content)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func gzipped(t testing.TB, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(content)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func zlibbed(t testing.TB, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, err := zw.Write(content)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestParseCallHistoryManualOrder(t *testing.T) {
	msk := provider.DefaultLocation()
	plain := readFixture(t, "history/manual_semicolon.csv")
	for name, file := range map[string][]byte{
		"plain": plain,
		"zip":   zipped(t, "api3_1.csv", plain),
		"gzip":  gzipped(t, plain),
		"zlib":  zlibbed(t, plain),
	} {
		t.Run(name, func(t *testing.T) {
			rows, err := ParseCallHistory(file, msk)
			require.NoError(t, err)
			require.Len(t, rows, 3, "the blank line is skipped")
			assert.Equal(t, HistoryRow{
				SessionID: "SDij-w3jpbdxIpCHO", CallType: 1, Direction: 1, State: 1,
				OrigNumber: "sip:79771234567@example_domain.ru", DestNumber: "sip:74951234567@example_domain.ru",
				AnsweringSIPURI: "sip:user@example_domain.ru", AnsweringPIN: "317",
				StartCallDate: time.Date(2021, 1, 26, 12, 12, 11, 0, msk), Duration: 25 * time.Second,
				IsRecord: true, StatusCode: "0",
			}, rows[0])
			assert.Equal(t, "Занято\n(перезвонить)", rows[1].StatusString, "a quoted field keeps its line break")
			assert.Equal(t, 3, rows[1].CallType)
			assert.True(t, rows[2].IsRecord, "TRUE in capitals")
			assert.True(t, time.Unix(1611653557, 0).Equal(rows[2].StartCallDate), "Unix seconds")

			in := rows[0].CallRecord()
			assert.Equal(t, pbx.CallRecord{CallID: "SDij-w3jpbdxIpCHO", Direction: pbx.Inbound, Phone: "79771234567",
				Line: "74951234567", Extension: "317", StartedAt: rows[0].StartCallDate, CallDuration: 25 * time.Second,
				Outcome: pbx.OutcomeAnswered, HasRecording: true, Raw: &rows[0]}, in)
			assert.Zero(t, in.TalkDuration, "the export has no answer time: talk is unknown, not guessed")
			_, isPtr := in.Raw.(*HistoryRow)
			assert.True(t, isPtr, "Raw is a *HistoryRow")
			out := rows[1].CallRecord()
			assert.Equal(t, pbx.Outbound, out.Direction)
			assert.Equal(t, "79131234567", out.Phone)
			assert.Equal(t, "201", out.Extension)
			assert.Equal(t, pbx.OutcomeMissed, out.Outcome)
			internal := rows[2].CallRecord()
			assert.Equal(t, pbx.Internal, internal.Direction)
			assert.Empty(t, internal.Phone)
		})
	}
}

func TestParseCallHistoryHeaderAndComma(t *testing.T) {
	rows, err := ParseCallHistory(zipped(t, "export.csv", readFixture(t, "history/header_comma.csv")), nil)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "a1", rows[0].SessionID, "the BOM does not hide the header")
	assert.Equal(t, "sip:+73852557475@188.254.33.73;tgrp=x", rows[0].OrigNumber, "';' inside a SIP URI is not a delimiter")
	assert.Equal(t, map[string]string{"line_name": "Продажи"}, rows[0].Extra)
	assert.Equal(t, pbx.OutcomeMissed, rows[0].CallRecord().Outcome)
	assert.Equal(t, "73852557475", rows[0].CallRecord().Phone)
	assert.True(t, rows[1].IsRecord, `"1" is true`)
	assert.Equal(t, "202", rows[1].CallRecord().Extension)
}

func TestParseCallHistoryShortLayout(t *testing.T) {
	rows, err := ParseCallHistory(readFixture(t, "history/short_layout.csv"), nil)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, 0, rows[0].Direction, "no direction column")
	assert.Equal(t, "sip:79833574337@p2.example.ru", rows[0].OrigNumber)
	assert.Equal(t, 61*time.Second, rows[0].Duration)
	r0 := rows[0].CallRecord()
	assert.Equal(t, pbx.Inbound, r0.Direction, "no orig_pin: incoming")
	assert.Equal(t, pbx.OutcomeAnswered, r0.Outcome, "someone answered")
	r1 := rows[1].CallRecord()
	assert.Equal(t, pbx.Outbound, r1.Direction)
	assert.Equal(t, "79991234567", r1.Phone)
	assert.Equal(t, pbx.OutcomeMissed, r1.Outcome)
	assert.Equal(t, "Busy", rows[1].StatusString)
}

func TestParseCallHistoryEdges(t *testing.T) {
	rows, err := ParseCallHistory(nil, nil)
	require.NoError(t, err)
	assert.Empty(t, rows, "an empty file is an empty log")

	rows, err = ParseCallHistory([]byte("session_id;call_type\n"), nil)
	require.NoError(t, err)
	assert.Empty(t, rows, "a header alone")

	_, err = ParseCallHistory([]byte("x;1;1;1;a\n"), nil)
	require.ErrorContains(t, err, "line 1: 5 fields, want at least 12")

	_, err = ParseCallHistory([]byte("<html>404</html>"), nil)
	require.Error(t, err)

	_, err = ParseCallHistory([]byte("PK\x03\x04garbage"), nil)
	require.ErrorContains(t, err, "ZIP")

	rows, err = ParseCallHistory([]byte("s;1;1;1;a;;b;;;garbage;-5;maybe;;;;\n"), nil)
	require.NoError(t, err, "unreadable fields are left zero")
	assert.Zero(t, rows[0].Duration)
	assert.True(t, rows[0].StartCallDate.IsZero())

	assert.Equal(t, 83*time.Second, parseSeconds("00:01:23"))
}

func TestSniff(t *testing.T) {
	assert.Equal(t, kindHTML, sniff(readFixture(t, "answers/history_not_ready.html")))
	assert.Equal(t, kindJSON, sniff([]byte(` {"result":"1"}`)))
	assert.Equal(t, kindZIP, sniff(zipped(t, "a.csv", nil)))
	assert.Equal(t, kindGzip, sniff(gzipped(t, nil)))
	assert.Equal(t, kindZlib, sniff(zlibbed(t, []byte("a"))))
	assert.Equal(t, kindCSV, sniff([]byte("x;1")))
}
