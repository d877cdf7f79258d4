package fakewa

import "errors"

// ErrNoConnection is returned when the fake has no logged-in client to send
// something to.
var ErrNoConnection = errors.New("fakewa: no logged-in client connection")
