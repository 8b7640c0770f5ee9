package mrz

import "testing"

func TestFixLine(t *testing.T) {
	tests := []struct {
		name, line, want string
		role             LineRole
		ok               bool
	}{
		{"TD3 data line as read", "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
			"L898902C36UTO7408122F1204159ZE184226B<<<<<10", LineRole{TD3, 2}, true},
		{"a 0 in the nationality, an O in a date", "L898902C36UT07408122F12O4159ZE184226B<<<<<10",
			"L898902C36UTO7408122F1204159ZE184226B<<<<<10", LineRole{TD3, 2}, true},
		{"a 0 in a name", "P<UTOERIKSS0N<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
			"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", LineRole{TD3, 1}, true},
		{"document number confusion the check digit settles", "L8989O2C36UTO7408122F1204159ZE184226B<<<<<10",
			"L898902C36UTO7408122F1204159ZE184226B<<<<<10", LineRole{TD3, 2}, true},
		{"TD1 name line", "ERIKSS0N<<ANNA<MARIA<<<<<<<<<<",
			"ERIKSSON<<ANNA<MARIA<<<<<<<<<<", LineRole{TD1, 3}, true},
		{"a line one character short", "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<",
			"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", LineRole{TD3, 1}, true},
		{"no layout's length", "P<UTOERIKSSON", "P<UTOERIKSSON", LineRole{}, false},
		{"blank", "   ", "   ", LineRole{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, role, ok := FixLine(tt.line)
			if got != tt.want || role != tt.role || ok != tt.ok {
				t.Errorf("FixLine(%q) = %q, %v, %v; want %q, %v, %v", tt.line, got, role, ok, tt.want, tt.role, tt.ok)
			}
		})
	}
}
