package engine

import (
	"maps"
	"sync"
	"time"
)

// Event is something that happened to a container or an image, as
// Docker's events report it: Type "container" or "image", Action
// ("create", "start", "die", "health_status: healthy", ...), the object's
// ID, and attributes (name, image, labels, exitCode).
type Event struct {
	Type       string
	Action     string
	ID         string
	Attributes map[string]string
	Time       time.Time
}

// eventsKept is how many past events Events can replay (docker --since).
const eventsKept = 1024

// eventBus fans events out to subscribers and keeps the last ones.
type eventBus struct {
	// mu guards the fields below.
	mu   sync.Mutex
	subs map[chan Event]struct{}
	past []Event
}

// Events returns the kept events since since (zero: none), and a channel
// of the events to come, until cancel is called. A subscriber that does
// not keep up loses events rather than slowing the engine.
func (e *Engine) Events(since time.Time) (past []Event, ch <-chan Event, cancel func()) {
	b := &e.events
	c := make(chan Event, 256)
	b.mu.Lock()
	if !since.IsZero() {
		for _, ev := range b.past {
			if !ev.Time.Before(since) {
				past = append(past, ev)
			}
		}
	}
	if b.subs == nil {
		b.subs = map[chan Event]struct{}{}
	}
	b.subs[c] = struct{}{}
	b.mu.Unlock()
	return past, c, func() {
		b.mu.Lock()
		delete(b.subs, c)
		b.mu.Unlock()
	}
}

// emit publishes ev, adding the container's name, image and labels to a
// container event.
func (e *Engine) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Type == "container" {
		e.mu.Lock()
		c := e.containers[ev.ID]
		e.mu.Unlock()
		if c != nil {
			c.mu.Lock()
			e.emitLocked(c, ev)
			c.mu.Unlock()
			return
		}
	}
	attrs := map[string]string{}
	maps.Copy(attrs, ev.Attributes)
	ev.Attributes = attrs
	e.publish(ev)
}

// emitLocked is emit of an event of container c, whose mu the caller
// holds: the attributes docker gives (labels, name, image) come from c.
func (e *Engine) emitLocked(c *Container, ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	attrs := map[string]string{}
	maps.Copy(attrs, c.rec.Labels)
	attrs["name"], attrs["image"] = c.rec.Name, c.rec.Image
	maps.Copy(attrs, ev.Attributes)
	ev.Attributes = attrs
	e.publish(ev)
}

// publish records ev and hands it to the subscribers that keep up; it
// takes only the events' lock, so it may be called holding a container's.
func (e *Engine) publish(ev Event) {
	b := &e.events
	b.mu.Lock()
	defer b.mu.Unlock()
	b.past = append(b.past, ev)
	if len(b.past) > eventsKept {
		b.past = append(b.past[:0:0], b.past[len(b.past)-eventsKept:]...)
	}
	for c := range b.subs {
		select {
		case c <- ev:
		default:
		}
	}
}
