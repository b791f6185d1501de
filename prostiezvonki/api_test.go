package prostiezvonki

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pbxkit/pbxkit/provider"
)

func TestUserMessage(t *testing.T) {
	const prefix = "При выполнении запроса к Простым звонкам произошла ошибка: "
	const suffix = ". Пожалуйста, обратитесь в поддержку Простых звонков."
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"vendor text", &provider.APIError{StatusCode: 400, Message: "Пользователь не найден", Body: `{"error":"Пользователь не найден"}`}, "Пользователь не найден"},
		{"vendor text with a full stop", &provider.APIError{StatusCode: 400, Message: "Номер неверен."}, "Номер неверен"},
		{"body only", &provider.APIError{StatusCode: 500, Body: "Internal Server Error"}, "Internal Server Error"},
		{"status only", &provider.APIError{StatusCode: 500}, "HTTP 500 Internal Server Error"},
		{"wrapped", fmt.Errorf("crm: %w", &provider.APIError{StatusCode: 400, Message: "x"}), "x"},
		{"transport", errors.New("prostiezvonki: makecall: connection refused"), "prostiezvonki: makecall: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := ""
			if tt.want != "" {
				want = prefix + tt.want + suffix
			}
			assert.Equal(t, want, UserMessage(tt.err))
		})
	}
}
