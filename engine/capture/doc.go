// Package capture runs live capture guidance: it reads frames from a
// source without ever stalling it, analyses the newest frame for a
// document or a selfie, tells the user one thing to do at a time, and
// captures the best frame of a steady, good-quality window by itself.
//
// After the selfie, SelfieGuide can run an active liveness challenge: it
// captures the frame that meets each prompt (the verification compares
// their faces with the selfie's), in the order its caller drew
// (ShuffleChallenges), each within SelfieConfig.PromptTime of showing and
// all within ChallengeTime, judged on the frames' own times, so that the
// bounds are tested with timestamps rather than a clock; past either the
// guide is done with the challenge failed (SelfieGuide.Failed).
//
// Everything here runs on the Go side; the desktop app shows the frames and
// the Overlay each analysed frame carries.
package capture
