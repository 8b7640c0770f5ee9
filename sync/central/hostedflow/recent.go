package hostedflow

import (
	"net/http"
	"slices"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Bounds on the guidance frames a session's memory keeps as the browser
// sent them (live.recent): the guide's capture is taken from them
// (keepCapture) and the selfie's camera feed judged by them
// (feedEvidence). Each frame may be MaxFrameBytes, so without a bound in
// bytes MaxLiveSessions sessions of three steps held gigabytes.
const (
	// recentFrames is how many of a step's last frames are kept.
	recentFrames = 8
	// minRecentFrames is the fewest of the current step's last frames
	// kept, whatever their bytes: the guide's window (engine/capture's
	// StableFrames, of which keepCapture takes the chosen frame) and what
	// feedEvidence needs to judge a feed (device.MinFeedFrames).
	minRecentFrames = max(5, device.MinFeedFrames)
	// SessionFrameBudget bounds the bytes of a session's kept frames over
	// all its steps: past it the oldest go first, another step's before
	// the current one's, never below minRecentFrames of the current step.
	// The page's frames (1280x720 JPEG) keep all recentFrames under it.
	SessionFrameBudget = 8 << 20
	// DefaultMaxFrameMemory is Config.MaxFrameMemory's default.
	DefaultMaxFrameMemory = 1 << 30
	// frameMemoryRetry is the Retry-After of a frame refused for the
	// instance's bound.
	frameMemoryRetry = 2 * time.Second
)

// errFrameMemory answers a guidance frame that would take the frames kept
// by this instance past Config.MaxFrameMemory: the page sends a later one.
var errFrameMemory = &httpx.Error{Status: http.StatusServiceUnavailable, Code: "guidance_busy",
	Message: "guidance is busy; send a later frame", RetryAfter: frameMemoryRetry}

// keepFrame keeps fr as step's newest frame, drops what the bounds above
// ask, and counts the change in the instance's bytes (l.held); false,
// changing nothing, when that would pass limit (l.gmu held).
func (l *live) keepFrame(step string, fr rawFrame, limit int64) bool {
	next := make(map[string][]rawFrame, len(l.recent)+1)
	var total int64
	for st, frs := range l.recent {
		next[st] = frs
		total += frameBytes(frs)
	}
	cur := append(slices.Clip(next[step]), fr)
	total += int64(len(fr.data))
	if n := len(cur) - recentFrames; n > 0 {
		total -= frameBytes(cur[:n])
		cur = cur[n:]
	}
	next[step] = cur
	for total > SessionFrameBudget {
		victim := ""
		for st, frs := range next {
			if st != step && len(frs) > 0 && (victim == "" || frs[0].seq < next[victim][0].seq) {
				victim = st
			}
		}
		if victim == "" {
			if len(next[step]) <= minRecentFrames {
				break
			}
			victim = step
		}
		total -= int64(len(next[victim][0].data))
		if next[victim] = next[victim][1:]; len(next[victim]) == 0 {
			delete(next, victim)
		}
	}
	if d := total - l.recentBytes; d > 0 && l.held.Add(d) > limit {
		l.held.Add(-d)
		return false
	} else if d < 0 {
		l.held.Add(d)
	}
	// Fresh slices: the old ones' arrays, which still point at the
	// dropped frames, go.
	for st, frs := range next {
		next[st] = slices.Clone(frs)
	}
	l.recent, l.recentBytes = next, total
	return true
}

// dropRecent forgets step's kept frames (l.gmu held): its capture is
// kept, or taken again.
func (l *live) dropRecent(step string) {
	n := frameBytes(l.recent[step])
	delete(l.recent, step)
	l.recentBytes -= n
	l.held.Add(-n)
}

// dropAllRecent forgets every step's kept frames (l.gmu held).
func (l *live) dropAllRecent() {
	l.held.Add(-l.recentBytes)
	l.recent, l.recentBytes = map[string][]rawFrame{}, 0
}

func frameBytes(frs []rawFrame) int64 {
	var n int64
	for _, fr := range frs {
		n += int64(len(fr.data))
	}
	return n
}

// setPending keeps data as step's chosen frame until the step is complete
// (l.gmu held). Counted in l.held past the instance's limit if need be:
// the guide has chosen it, and the frames that follow are refused until
// the bytes are given back.
func (l *live) setPending(step string, data []byte) {
	l.takePending(step)
	l.pend[step] = data
	l.pendBytes += int64(len(data))
	l.held.Add(int64(len(data)))
}

// takePending returns and forgets step's chosen frame (l.gmu held).
func (l *live) takePending(step string) []byte {
	data := l.pend[step]
	delete(l.pend, step)
	l.pendBytes -= int64(len(data))
	l.held.Add(-int64(len(data)))
	return data
}

// addChallenge keeps a challenge done and its frame until the selfie is
// complete (l.gmu held), counted as setPending's.
func (l *live) addChallenge(c challengeCapture) {
	l.pendCh = append(l.pendCh, c)
	l.pendBytes += int64(len(c.Image))
	l.held.Add(int64(len(c.Image)))
}

// takeChallenges returns and forgets the challenges done (l.gmu held).
func (l *live) takeChallenges() []challengeCapture {
	done := l.pendCh
	l.pendCh = nil
	for _, c := range done {
		l.pendBytes -= int64(len(c.Image))
		l.held.Add(-int64(len(c.Image)))
	}
	return done
}

// dropAllPending forgets every chosen frame and challenge (l.gmu held).
func (l *live) dropAllPending() {
	l.held.Add(-l.pendBytes)
	l.pend, l.pendCh, l.pendBytes = map[string][]byte{}, nil, 0
}
