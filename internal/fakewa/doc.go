// Package fakewa is a loopback fake of the WhatsApp multi-device server for
// tests. The real go.mau.fi/whatsmeow client connects to it over TLS and a
// websocket, completes the Noise XX handshake against a certificate chain
// rooted in a test key, logs in, and sends Signal-encrypted messages that
// simulated recipients decrypt with go.mau.fi/libsignal.
//
// The package is test support only: import it from _test.go files and
// benchmarks, never from production code. Nothing in it can reach WhatsApp:
// Server.Install points the client's websocket HTTP clients at the loopback
// listener whatever host whatsmeow asks for.
//
// whatsmeow verifies the server certificate against the package variable
// whatsmeow.WACertPubKey. New swaps it for a root key that is generated once
// per process and shared by every Server, so tests using fakewa may run in
// parallel with each other. They must not run in parallel with tests that
// set WACertPubKey to anything else.
//
// A typical test:
//
//	srv := fakewa.New(t)
//	cli := srv.NewClient(t, "15550001111") // a device already linked to the account
//	bob := srv.AddRecipient("15550002222")
//	if err := cli.Connect(); err != nil { ... }
//	cli.WaitForConnection(10 * time.Second)
//	_, err := cli.SendMessage(ctx, bob.JID(), msg, whatsmeow.SendRequestExtra{ID: "3EB0..."})
//	got, err := srv.WaitReceived(ctx, 1) // got[0].Message is the decrypted *waE2E.Message
//
// Faults are switched on with Server methods (FailMessages, DropBeforeAck,
// SetAckDelay, SetLoginFailure, DropConnections, ReplaceStream,
// RemoveDevice) and Recipient.SetOnWhatsApp; receipts come from
// Recipient.SendReceipt; QR pairing is completed with Server.ScanQR.
package fakewa
