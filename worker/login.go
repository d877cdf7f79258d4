package worker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/worker/whatsapp"
)

// listenLogin runs login requests for the devices this worker holds. The API
// publishes them (device.Registry.RequestLogin) and reads the progress this
// worker writes (SetLogin), so a browser can log in a device whichever worker
// holds it.
func (w *Worker) listenLogin(ctx context.Context) {
	w.listen(ctx, w.registry.LoginChannel(), func(payload string) {
		var req device.LoginRequest
		if json.Unmarshal([]byte(payload), &req) != nil {
			return
		}
		if p := w.pool(req.DeviceID); p != nil {
			p.startLogin(req)
		}
	})
}

// startLogin runs the device's login, bounded by the pool's life: losing the
// device ends it. A new request (say, a pairing code instead of a QR code)
// replaces a login under way.
func (p *pool) startLogin(req device.LoginRequest) {
	p.mu.Lock()
	if p.ctx == nil {
		p.mu.Unlock()
		return
	}
	if p.loginCancel != nil {
		p.loginCancel()
	}
	p.loginGen++
	gen := p.loginGen
	lctx, cancel := context.WithTimeout(p.ctx, 5*time.Minute)
	p.loginCancel = cancel
	p.mu.Unlock()
	go func() {
		defer cancel()
		var err error
		if p.dev.Kind == device.KindSandbox {
			err = p.sandboxLogin(lctx, gen, req)
		} else {
			err = p.whatsappLogin(lctx, gen, req)
		}
		if err != nil && p.currentLogin(gen) {
			p.log.Warn("login failed", "err", err)
			p.setLogin(gen, device.Login{Status: device.LoginFailed, Error: err.Error()})
		}
	}()
}

// currentLogin reports whether gen is the latest login.
func (p *pool) currentLogin(gen int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return gen == p.loginGen
}

// setLogin records progress of login gen, unless a newer login replaced it.
func (p *pool) setLogin(gen int, l device.Login) {
	if !p.currentLogin(gen) {
		return
	}
	l.Worker = p.w.cfg.ID
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.w.registry.SetLogin(ctx, p.dev.ID, l); err != nil {
		p.log.Warn("could not record login progress", "err", err)
	}
}

// whatsappLogin pairs the device through whatsmeow and records its new JID;
// the registry change restarts the pool with a session for it.
func (p *pool) whatsappLogin(ctx context.Context, gen int, req device.LoginRequest) error {
	if p.dev.JID != "" {
		return fmt.Errorf("device %s is already logged in as %s; log it out first", p.dev.ID, p.dev.JID)
	}
	if p.w.wa == nil {
		return fmt.Errorf("this worker has no WhatsApp store")
	}
	updates, err := p.w.wa.LoginFlow(ctx, req.Phone, whatsapp.Options{Log: p.log, ClientHook: p.w.clientHook})
	if err != nil {
		return err
	}
	for u := range updates {
		switch {
		case u.Done && u.Err != nil:
			return u.Err
		case u.Done:
			if _, err := p.w.registry.Update(context.WithoutCancel(ctx), p.dev.ID, func(d *device.Device) error {
				d.JID = u.JID.String()
				return nil
			}); err != nil {
				return err
			}
			p.setLogin(gen, device.Login{Status: device.LoginConnected, JID: u.JID.String()})
			return nil
		case u.PairCode != "":
			p.setLogin(gen, device.Login{Status: device.LoginPairCode, PairCode: u.PairCode})
		case u.QR != "":
			p.setLogin(gen, device.Login{Status: device.LoginQR, QR: u.QR})
		}
	}
	return fmt.Errorf("login ended without a result")
}

// sandboxLogin simulates WhatsApp's login: QR codes that rotate, or a
// pairing code, then a connected device after SandboxLoginAfter.
func (p *pool) sandboxLogin(ctx context.Context, gen int, req device.LoginRequest) error {
	done := time.NewTimer(p.w.cfg.SandboxLoginAfter)
	defer done.Stop()
	rotate := time.NewTicker(p.w.cfg.SandboxQRRotate)
	defer rotate.Stop()
	show := func() {
		if req.Phone != "" {
			p.setLogin(gen, device.Login{Status: device.LoginPairCode, PairCode: randomCode(8)})
			return
		}
		p.setLogin(gen, device.Login{Status: device.LoginQR, QR: "2@" + randomCode(32) + ",sandbox," + p.dev.ID})
	}
	show()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-rotate.C:
			if req.Phone == "" {
				show()
			}
		case <-done.C:
			p.setLogin(gen, device.Login{Status: device.LoginConnected, JID: "sandbox:" + p.dev.ID})
			return nil
		}
	}
}

func randomCode(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	return s[:n]
}
