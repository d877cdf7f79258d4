//go:build race

package main

// raceEnabled is set when tests run under the race detector, so tests can
// skip paths with known data races in dependencies.
const raceEnabled = true
