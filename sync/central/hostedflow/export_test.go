package hostedflow

// KeptFrames returns the lengths of the guidance frames the session's
// memory keeps as received (live.recent), by step; nil when this instance
// holds no memory of it.
func (f *Flow) KeptFrames(partnerID, sessionID string) map[string][]int {
	f.mu.Lock()
	l, ok := f.live[liveKey(partnerID, sessionID)]
	f.mu.Unlock()
	if !ok {
		return nil
	}
	l.gmu.Lock()
	defer l.gmu.Unlock()
	out := map[string][]int{}
	for st, frs := range l.recent {
		for _, fr := range frs {
			out[st] = append(out[st], len(fr.data))
		}
	}
	return out
}

// FramesHeld is the instance's count of the bytes its sessions keep.
func (f *Flow) FramesHeld() int64 { return f.framesHeld.Load() }

// PendingBytes are the bytes of the session's chosen frames and
// challenge frames waiting for their step to complete (live.pend,
// live.pendCh); -1 when this instance holds no memory of it.
func (f *Flow) PendingBytes(partnerID, sessionID string) int64 {
	f.mu.Lock()
	l, ok := f.live[liveKey(partnerID, sessionID)]
	f.mu.Unlock()
	if !ok {
		return -1
	}
	l.gmu.Lock()
	defer l.gmu.Unlock()
	var n int64
	for _, d := range l.pend {
		n += int64(len(d))
	}
	for _, c := range l.pendCh {
		n += int64(len(c.Image))
	}
	return n
}
