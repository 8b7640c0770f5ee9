//go:build dev

package main

// devBuild: this is a dev build, whose Wails side offers the dev server
// (devServerGuard).
const devBuild = true
