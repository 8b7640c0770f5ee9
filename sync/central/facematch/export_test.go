package facematch

import "testing"

// Hold takes one of m's turns until release is called.
func (m *Matcher) Hold(t *testing.T) (release func()) {
	t.Helper()
	m.slots <- struct{}{}
	return func() { <-m.slots }
}
