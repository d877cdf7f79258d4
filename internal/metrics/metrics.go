// Package metrics defines every Prometheus metric wacard exports, registered on
// an injected registry (no globals). Labels never hold a phone number or a
// message ID. docs/metrics.md lists them with their alerts.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one process.
type Metrics struct {
	reg *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // route, method, code
	HTTPDuration *prometheus.HistogramVec // route, method

	Accepted  *prometheus.CounterVec // device
	Sent      *prometheus.CounterVec // device
	Failed    *prometheus.CounterVec // device, reason
	Retried   *prometheus.CounterVec // device
	Cancelled *prometheus.CounterVec // device

	SendDuration *prometheus.HistogramVec // device
	QueueLatency *prometheus.HistogramVec // device

	DeviceConnected   *prometheus.GaugeVec // device
	DeviceOwned       *prometheus.GaugeVec // device
	DevicePaused      *prometheus.GaugeVec // device, reason
	DevicesRegistered prometheus.Gauge
	DeviceHeld        *prometheus.GaugeVec // device
	LeaseTakeovers    *prometheus.CounterVec

	QueueSize      *prometheus.GaugeVec // device, state
	QueueOldestAge *prometheus.GaugeVec // device

	WebhookDeliveries *prometheus.CounterVec // event, outcome
	BuildInfo         *prometheus.GaugeVec
}

// New creates and registers every collector on a fresh registry, with the Go
// and process collectors.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg}
	dev := []string{"device"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		f(c)
		return c
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		f(g)
		return g
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		f(h)
		return h
	}
	m.HTTPRequests = counter("wacard_http_requests_total", "HTTP requests by route, method and status code.", "route", "method", "code")
	m.HTTPDuration = hist("wacard_http_request_duration_seconds", "HTTP request latency.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}, "route", "method")
	m.Accepted = counter("wacard_messages_accepted_total", "Messages accepted by the API.", dev...)
	m.Sent = counter("wacard_messages_sent_total", "Messages WhatsApp acknowledged.", dev...)
	m.Failed = counter("wacard_messages_failed_total", "Messages that ended failed, by reason class.", "device", "reason")
	m.Retried = counter("wacard_messages_retried_total", "Send attempts that failed transiently and will be retried.", dev...)
	m.Cancelled = counter("wacard_messages_cancelled_total", "Messages cancelled before sending.", dev...)
	m.SendDuration = hist("wacard_send_duration_seconds", "WhatsApp send round trip (encrypt, send, server ack).", []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, dev...)
	m.QueueLatency = hist("wacard_message_queue_latency_seconds", "Time from acceptance to sent.", []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400}, dev...)
	m.DeviceConnected = gauge("wacard_device_connected", "1 while the device's WhatsApp connection is up (worker).", dev...)
	m.DeviceOwned = gauge("wacard_device_owned", "1 while this worker holds the device's lease.", dev...)
	m.DevicePaused = gauge("wacard_device_paused", "1 while the device's queue is paused, by reason.", "device", "reason")
	m.DevicesRegistered = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wacard_devices_registered", Help: "Devices in the registry."})
	f(m.DevicesRegistered)
	m.DeviceHeld = gauge("wacard_device_held", "1 while any worker holds the device's lease (API).", dev...)
	m.LeaseTakeovers = counter("wacard_lease_takeovers_total", "Leases this worker took over after another holder's lease expired.", dev...)
	m.QueueSize = gauge("wacard_queue_size", "Tasks in a device's queue by state.", "device", "state")
	m.QueueOldestAge = gauge("wacard_queue_oldest_pending_age_seconds", "Age of the oldest pending task in a device's queue.", dev...)
	m.WebhookDeliveries = counter("wacard_webhook_deliveries_total", "Webhook delivery attempts by event and outcome.", "event", "outcome")
	m.BuildInfo = gauge("wacard_build_info", "Always 1; the version label names the build.", "version")
	m.BuildInfo.WithLabelValues(version).Set(1)
	return m
}

// Registry is the registry every collector is on (for extra collectors and tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Since is a small helper for observing durations.
func Since(t time.Time) float64 { return time.Since(t).Seconds() }
