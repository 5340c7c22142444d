package engine

import (
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Rename gives the container a new name; the old one is free at once.
func (e *Engine) Rename(ctx context.Context, ref, name string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	name = strings.TrimPrefix(name, "/")
	if !validName.MatchString(name) {
		return invalidName(name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.rec.Name
	if old == name {
		return errdefs.Invalid("Renaming a container with the same name as its current name")
	}
	if id, ok := e.names[name]; ok {
		return nameConflict(name, id)
	}
	rec := c.rec
	rec.Name = name
	data, err := marshalRecord(rec)
	if err != nil {
		return err
	}
	err = e.db.Update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		if err := names.Delete([]byte(old)); err != nil {
			return err
		}
		if err := names.Put([]byte(name), []byte(rec.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketContainers).Put([]byte(rec.ID), data)
	})
	if err != nil {
		return fmt.Errorf("rename container %s: %w", shortID(rec.ID), err)
	}
	c.rec = rec
	delete(e.names, old)
	e.names[name] = rec.ID
	go e.emit(Event{Type: "container", Action: "rename", ID: rec.ID, Attributes: map[string]string{"oldName": "/" + old}})
	return nil
}
