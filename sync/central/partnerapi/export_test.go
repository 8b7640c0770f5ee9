package partnerapi

// HashPassKey is the stored hash of passKey under a's SecretKey, for tests
// that give a partner a pass key of an older release (one without a tag).
func (a *API) HashPassKey(passKey string) string { return a.keys.hashPassKey(passKey) }
