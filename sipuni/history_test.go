package sipuni

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbxkit/pbxkit/pbx"
)

func TestParseStatisticsFixtures(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	t.Run("2015 layout", func(t *testing.T) {
		f, err := os.Open("testdata/export_2015.csv")
		require.NoError(t, err)
		defer f.Close()
		rows, err := ParseStatistics(f, msk)
		require.NoError(t, err)
		require.Len(t, rows, 2)
		assert.Equal(t, StatisticsRow{
			Type: "входящий", Status: "отвечен", Time: time.Date(2015, 10, 8, 16, 31, 3, 0, msk), Tree: "Входящая",
			From: "79031234567", To: "74951234567", AnsweredBy: "201",
			CallDuration: 125 * time.Second, TalkDuration: 117 * time.Second, AnswerDelay: 8 * time.Second,
			RecordID: "1444311063.117599",
		}, rows[0])
		assert.Equal(t, pbx.CallRecord{
			CallID: "1444311063.117599", Direction: pbx.Inbound, Phone: "79031234567", Line: "74951234567", Extension: "201",
			StartedAt: rows[0].Time, TalkDuration: 117 * time.Second, CallDuration: 125 * time.Second,
			Outcome: pbx.OutcomeAnswered, HasRecording: true, Raw: &rows[0],
		}, rows[0].CallRecord())
		out := rows[1].CallRecord()
		assert.Equal(t, pbx.Outbound, out.Direction)
		assert.Equal(t, pbx.OutcomeMissed, out.Outcome)
		assert.Equal(t, "79161234567", out.Phone, "8... normalised")
		assert.Equal(t, "202", out.Extension)
		// The old single Duration fell back to the call's length when the
		// talk was zero, so an unanswered call showed 30 s of talk.
		assert.Zero(t, out.TalkDuration, "no talk on an unanswered call")
		assert.Equal(t, 30*time.Second, out.CallDuration, "the call's length, ringing included")
	})
	t.Run("all columns, BOM, CRLF, new spellings", func(t *testing.T) {
		f, err := os.Open("testdata/export_full.csv")
		require.NoError(t, err)
		defer f.Close()
		rows, err := ParseStatistics(f, msk)
		require.NoError(t, err)
		require.Len(t, rows, 4)
		assert.Equal(t, StatisticsRow{
			Type: "Входящий", Status: "Отвечен", Time: time.Date(2026, 3, 24, 10, 15, 0, 0, msk), TreeID: "000-1734442", Tree: "Входящая",
			From: "79031234567", To: "74951234567", Ringed: "201,202", Involved: "79031234567,201", AnsweredBy: "201 (Иван Петров)",
			CallDuration: 103 * time.Second, TalkDuration: 95 * time.Second, AnswerDelay: 8 * time.Second, Rating: "5",
			RecordID: "1774336500.533001", Label: "VIP", Tags: "горячий", HangupInitiator: "Клиент", RecordExists: true, HasRecordColumn: true,
			NewClient: true, CRMInfo: "Сделка 42", CRMResponsible: "Иван Петров", Extra: map[string]string{"Новая колонка": "x"},
		}, rows[0])
		recs := make([]pbx.CallRecord, len(rows))
		for i, r := range rows {
			recs[i] = r.CallRecord()
		}
		assert.Equal(t, "201", recs[0].Extension, "names=1 form")
		assert.True(t, recs[0].HasRecording)
		assert.Equal(t, pbx.OutcomeMissed, recs[1].Outcome, "Пропущен")
		assert.Equal(t, "79161234567", recs[1].Phone)
		assert.False(t, recs[1].HasRecording, "Запись существует = 0 wins over an id")
		assert.Equal(t, "Не перезвонили", rows[1].CallbackState)
		assert.Equal(t, pbx.Outbound, recs[2].Direction)
		assert.Equal(t, "202", recs[2].Extension)
		assert.Equal(t, "998948867473", recs[2].Phone)
		assert.Equal(t, "74951234567", recs[2].Line)
		assert.Equal(t, "cb-17", rows[2].OrderID)
		assert.Equal(t, pbx.Internal, recs[3].Direction)
		assert.Equal(t, pbx.OutcomeBusy, recs[3].Outcome)
		assert.Equal(t, "201", recs[3].Extension)
	})
}

func TestParseStatisticsInput(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		rows    int
		wantErr string
		notStat bool
		check   func(t *testing.T, rows []StatisticsRow)
	}{
		{name: "empty", in: "", rows: 0},
		{name: "only a BOM and header", in: "\uFEFFТип;Время\r\n", rows: 0},
		{name: "not CSV", in: "Неправильный хеш", notStat: true, wantErr: "not a statistics CSV"},
		{name: "unknown columns only", in: "a;b\n1;2\n", notStat: true, wantErr: "not a statistics CSV"},
		{name: "trailing semicolons", in: "Тип;Время;\nВходящий;01.03.2026 10:00:00;\nВходящий;01.03.2026 10:00:01;;\n", rows: 2},
		{name: "shifted columns", in: "Тип;Время;Откуда\nВходящий;01.03.2026 10:00:00;a;b\n", wantErr: "line 2 has 4 fields"},
		{name: "short row", in: "Тип;Время;Откуда\nВходящий\n", rows: 1,
			check: func(t *testing.T, rows []StatisticsRow) { assert.Zero(t, rows[0].Time) }},
		{name: "time without seconds", in: "Время\n01.03.2026 10:05\n", rows: 1,
			check: func(t *testing.T, rows []StatisticsRow) { assert.Equal(t, 5, rows[0].Time.Minute()) }},
		{name: "bad time", in: "Время\n32.13.2026 10:05:00\n", wantErr: `line 2, column "Время"`},
		{name: "durations as clock", in: "Время;Длительность звонка;Длительность разговора, сек\n;1:02:03;02:05\n", rows: 1,
			check: func(t *testing.T, rows []StatisticsRow) {
				assert.Equal(t, time.Hour+2*time.Minute+3*time.Second, rows[0].CallDuration)
				assert.Equal(t, 125*time.Second, rows[0].TalkDuration)
			}},
		{name: "negative duration", in: "Время;Длительность звонка\n;-5\n", wantErr: "not a duration"},
		{name: "huge duration", in: "Время;Длительность звонка\n;99999999999999\n", wantErr: "not a duration"},
		{name: "fractional duration", in: "Время;Длительность звонка\n;12.0\n", rows: 1},
		{name: "bad flag", in: "Время;Запись существует\n;может быть\n", wantErr: "not a boolean"},
		{name: "flag in Russian", in: "Время;Новый клиент\n;Да\n", rows: 1,
			check: func(t *testing.T, rows []StatisticsRow) { assert.True(t, rows[0].NewClient) }},
		{name: "quotes tolerated", in: "Тип;Метка\nВходящий;\"он сказал \"да\"\n", rows: 1},
		{name: "header in any case with units", in: "ТИП; Время ;ДЛИТЕЛЬНОСТЬ РАЗГОВОРА (сек)\nвходящий;;7\n", rows: 1,
			check: func(t *testing.T, rows []StatisticsRow) { assert.Equal(t, 7*time.Second, rows[0].TalkDuration) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ParseStatistics(strings.NewReader(tt.in), nil)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Equal(t, tt.notStat, errors.Is(err, ErrNotStatistics))
				return
			}
			require.NoError(t, err)
			assert.Len(t, rows, tt.rows)
			if tt.check != nil {
				tt.check(t, rows)
			}
		})
	}
}

func TestStatisticsReaderStopsAfterError(t *testing.T) {
	sr := NewStatisticsReader(strings.NewReader("Время\nплохо\n01.03.2026 10:00:00\n"), nil)
	_, err := sr.Next()
	require.Error(t, err)
	_, err2 := sr.Next()
	assert.Equal(t, err, err2, "errors are final")
	assert.Equal(t, []string{"Время"}, sr.Header())

	sr = NewStatisticsReader(strings.NewReader("Время\n"), nil)
	_, err = sr.Next()
	assert.Equal(t, io.EOF, err)
}

func TestStatusAndTypeReading(t *testing.T) {
	outcomes := map[string]pbx.Outcome{
		"отвечен": pbx.OutcomeAnswered, "Отвечен": pbx.OutcomeAnswered, "принят": pbx.OutcomeAnswered,
		"не отвечен": pbx.OutcomeMissed, "Не отвечен": pbx.OutcomeMissed, "пропущен": pbx.OutcomeMissed, "Пропущенный": pbx.OutcomeMissed,
		"занят": pbx.OutcomeBusy, "отменён": pbx.OutcomeCancelled, "Отменен": pbx.OutcomeCancelled, "": pbx.OutcomeUnknown, "??": pbx.OutcomeUnknown,
	}
	for status, want := range outcomes {
		assert.Equal(t, want, StatisticsRow{Status: status}.Outcome(), status)
	}
	dirs := map[string]pbx.Direction{
		"Входящий": pbx.Inbound, "входящий": pbx.Inbound, "Исходящий": pbx.Outbound, "ИСХОДЯЩИЙ": pbx.Outbound,
		"Внутренний": pbx.Internal, "": pbx.DirectionUnknown, "другой": pbx.DirectionUnknown,
	}
	for typ, want := range dirs {
		assert.Equal(t, want, StatisticsRow{Type: typ}.Direction(), typ)
	}
	statuses := map[string]pbx.Outcome{
		"ANSWER": pbx.OutcomeAnswered, "NOANSWER": pbx.OutcomeMissed, "BUSY": pbx.OutcomeBusy, "CANCEL": pbx.OutcomeCancelled,
		"CONGESTION": pbx.OutcomeFailed, "CHANUNAVAIL": pbx.OutcomeFailed, "answer": pbx.OutcomeAnswered, "": pbx.OutcomeUnknown, "HELD": pbx.OutcomeUnknown,
	}
	for status, want := range statuses {
		assert.Equal(t, want, StatusOutcome(status), status)
	}
}

func TestLeadingNumber(t *testing.T) {
	for in, want := range map[string]string{
		"201":                "201",
		"201 (Иван Петров)":  "201",
		" 202(Мария)":        "202",
		"+7 (903) 123-45-67": "+7 (903) 123-45-67",
		"Иван Петров":        "",
		"":                   "",
		"(":                  "",
		"-- ":                "",
	} {
		assert.Equal(t, want, leadingNumber(in), in)
	}
}
