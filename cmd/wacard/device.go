package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/worker/whatsapp"
)

// deviceCmd runs `wacard device ...`.
func deviceCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	return deviceCmdWith(ctx, cfg, log, args, stdout, nil)
}

// deviceCmdWith is deviceCmd with a hook applied to the whatsmeow clients that
// login and logout create; tests use it to reach a fake WhatsApp server.
func deviceCmdWith(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer, clientHook func(*whatsmeow.Client)) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: wacard device add|login|list|logout|remove", errUsage)
	}
	rdb, err := connectRedis(ctx, cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	reg := device.NewRegistry(rdb, cfg.RedisPrefix)
	sub, args := args[0], args[1:]

	fs := flag.NewFlagSet("device "+sub, flag.ContinueOnError)
	fs.SetOutput(stdout)
	sandbox := fs.Bool("sandbox", false, "add: a sandbox device that needs no WhatsApp")
	pairPhone := fs.String("phone", "", "login: pair with a code for this number instead of a QR code")
	if err := fs.Parse(reorderFlags(args)); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	id := fs.Arg(0)
	if sub != "list" {
		if id == "" {
			return fmt.Errorf("%w: wacard device %s <id>", errUsage, sub)
		}
		if err := config.ValidDeviceID(id); err != nil {
			return fmt.Errorf("device id %q %w", id, err)
		}
	}

	switch sub {
	case "add":
		kind := device.KindWhatsApp
		if *sandbox {
			kind = device.KindSandbox
		}
		if err := reg.Add(ctx, device.Device{ID: id, Kind: kind}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s device %q\n", kind, id)
		if kind == device.KindWhatsApp {
			fmt.Fprintf(stdout, "next: wacard device login %s\n", id)
		}
		return nil
	case "list":
		return listDevices(ctx, reg, stdout)
	case "remove":
		if err := reg.Remove(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed device %q (its queued messages stay until it is added again)\n", id)
		return nil
	case "login":
		return loginDevice(ctx, cfg, log, reg, id, *pairPhone, stdout, clientHook)
	case "logout":
		return logoutDevice(ctx, cfg, log, reg, id, stdout, clientHook)
	}
	return fmt.Errorf("%w: unknown device command %q", errUsage, sub)
}

// reorderFlags lets flags follow the positional id (`device add demo --sandbox`).
func reorderFlags(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if a == "--phone" || a == "-phone" {
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func listDevices(ctx context.Context, reg *device.Registry, stdout io.Writer) error {
	list, err := reg.List(ctx)
	if err != nil {
		return err
	}
	states, err := reg.States(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tJID\tCONNECTION\tWORKER\tPAUSED")
	for _, d := range list {
		st, ok := states[d.ID]
		if !ok {
			st.Conn = device.ConnUnknown
		}
		paused := "-"
		if st.Paused {
			paused = st.PauseReason
		}
		jid := d.JID
		if jid == "" {
			jid = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Kind, jid, st.Conn, orDash(st.Worker), paused)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// loginDevice pairs a WhatsApp device: QR codes in the terminal, or a pairing
// code with --phone. Workers pick up the new JID through the registry.
func loginDevice(ctx context.Context, cfg config.Config, log *slog.Logger, reg *device.Registry, id, pairPhone string, stdout io.Writer, clientHook func(*whatsmeow.Client)) error {
	d, err := reg.Get(ctx, id)
	if errors.Is(err, device.ErrNotFound) {
		return fmt.Errorf("no device %q: add it first with `wacard device add %s`", id, id)
	}
	if err != nil {
		return err
	}
	if d.Kind == device.KindSandbox {
		return fmt.Errorf("device %q is a sandbox device: it needs no login", id)
	}
	store, err := whatsapp.OpenStore(ctx, cfg.DataDir, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("open WhatsApp device store: %w", err)
	}
	defer store.Close()
	fmt.Fprintf(stdout, "Linking device %q: open WhatsApp on your phone > Linked devices > Link a device.\n", id)
	jid, err := store.Login(ctx, stdout, pairPhone, whatsapp.Options{Log: log, ClientHook: clientHook})
	if err != nil {
		return fmt.Errorf("login %s: %w", id, err)
	}
	if _, err := reg.Update(ctx, id, func(d *device.Device) error { d.JID = jid.String(); return nil }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "device %q is logged in as %s\n", id, jid)
	return nil
}

func logoutDevice(ctx context.Context, cfg config.Config, log *slog.Logger, reg *device.Registry, id string, stdout io.Writer, clientHook func(*whatsmeow.Client)) error {
	d, err := reg.Get(ctx, id)
	if err != nil {
		return err
	}
	if d.JID == "" {
		return fmt.Errorf("device %q is not logged in", id)
	}
	jid, err := types.ParseJID(d.JID)
	if err != nil {
		return fmt.Errorf("device %q has an invalid JID %q: %w", id, d.JID, err)
	}
	store, err := whatsapp.OpenStore(ctx, cfg.DataDir, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("open WhatsApp device store: %w", err)
	}
	defer store.Close()
	// Clear the JID first, so workers drop the session before it is logged out.
	if _, err := reg.Update(ctx, id, func(d *device.Device) error { d.JID = ""; return nil }); err != nil {
		return err
	}
	sess, err := store.Session(ctx, jid, whatsapp.Options{Log: log, ClientHook: clientHook})
	if err != nil {
		return fmt.Errorf("open session %s: %w", jid, err)
	}
	defer sess.Close()
	if err := sess.Connect(ctx); err != nil {
		return fmt.Errorf("connect %s to log out: %w", jid, err)
	}
	if err := sess.Logout(ctx); err != nil {
		return fmt.Errorf("logout %s: %w", jid, err)
	}
	fmt.Fprintf(stdout, "device %q logged out\n", id)
	return nil
}
