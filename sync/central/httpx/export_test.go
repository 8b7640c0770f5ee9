package httpx

// SetWaiting makes b call f when a spend waits for its key's turn.
func SetWaiting(b *Budget, f func(key string)) { b.turns.waiting = f }
