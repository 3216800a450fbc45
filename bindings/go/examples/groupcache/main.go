// Command groupcache-thumbs serves thumbnails from a groupcache group: each
// key (canonical spec + "/" + file) has one owner among the peers, chosen by
// groupcache's consistent hash; the owner loads the source and renders it
// with libthumbnail, the other peers ask the owner over HTTP.
//
//	groupcache-thumbs -self http://127.0.0.1:9001 \
//	    -peers http://127.0.0.1:9001,http://127.0.0.1:9002,http://127.0.0.1:9003 -root samples
//
// GET /t/<spec>/<file> returns the thumbnail, GET /stats the group's stats in
// groupcache's names (Gets, CacheHits, PeerLoads, PeerErrors, Loads,
// LoadsDeduped, LocalLoads, LocalLoadErrs, ServerRequests) and its caches'.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/golang/groupcache"

	thumbnail "github.com/thumbnail-rs/thumbnail/bindings/go"
)

// errNotFound: the source does not exist (404; groupcache does not cache errors).
var errNotFound = errors.New("source not found")

func main() {
	self := flag.String("self", "http://127.0.0.1:9001", "this peer's base URL (it listens on its host:port)")
	peers := flag.String("peers", "", "every peer's base URL, comma-separated, self included (default: self only)")
	root := flag.String("root", "samples", "directory of the source images")
	cacheMB := flag.Int64("cache-mb", 64, "cache budget of this peer in MiB (main + hot cache)")
	flag.Parse()

	u, err := url.Parse(*self)
	if err != nil || u.Host == "" {
		log.Fatalf("-self %q: want http://host:port", *self)
	}
	pool := groupcache.NewHTTPPool(*self) // serves /_groupcache/ to the other peers
	list := []string{*self}
	if *peers != "" {
		list = strings.Split(*peers, ",")
	}
	pool.Set(list...)

	group := groupcache.NewGroup("thumbnails", *cacheMB<<20, groupcache.GetterFunc(
		func(ctx context.Context, key string, dest groupcache.Sink) error {
			// called on the key's owner only, once per key at a time
			spec, file, ok := strings.Cut(key, "/")
			if !ok {
				return fmt.Errorf("bad key %q", key)
			}
			src, err := os.ReadFile(filepath.Join(*root, file))
			if errors.Is(err, os.ErrNotExist) {
				return errNotFound
			} else if err != nil {
				return err
			}
			img, err := thumbnail.Render(src, spec)
			if err != nil {
				return err
			}
			// media type, newline, image: one value
			return dest.SetBytes(append([]byte(img.MediaType+"\n"), img.Data...))
		}))

	http.HandleFunc("/t/", func(w http.ResponseWriter, r *http.Request) {
		spec, file, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/t/"), "/")
		if !ok || file == "" || strings.Contains(file, "/") || strings.HasPrefix(file, ".") {
			http.Error(w, "want /t/<spec>/<file>", http.StatusNotFound)
			return
		}
		canon, err := thumbnail.Canonical(spec) // one key per thumbnail whatever the spelling
		if err != nil {
			http.Error(w, err.Error(), thumbnail.HTTPStatus(err))
			return
		}
		var v []byte
		if err := group.Get(r.Context(), canon+"/"+file, groupcache.AllocatingByteSliceSink(&v)); err != nil {
			status := thumbnail.HTTPStatus(err)
			if errors.Is(err, errNotFound) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			http.Error(w, "bad cached value", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", string(v[:i]))
		w.Header().Set("Content-Length", fmt.Sprint(len(v)-i-1))
		w.Write(v[i+1:])
	})

	http.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		s := &group.Stats
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"Self":           *self,
			"Gets":           s.Gets.Get(),
			"CacheHits":      s.CacheHits.Get(),
			"PeerLoads":      s.PeerLoads.Get(),
			"PeerErrors":     s.PeerErrors.Get(),
			"Loads":          s.Loads.Get(),
			"LoadsDeduped":   s.LoadsDeduped.Get(),
			"LocalLoads":     s.LocalLoads.Get(),
			"LocalLoadErrs":  s.LocalLoadErrs.Get(),
			"ServerRequests": s.ServerRequests.Get(),
			"MainCache":      group.CacheStats(groupcache.MainCache),
			"HotCache":       group.CacheStats(groupcache.HotCache),
		})
	})

	log.Printf("groupcache-thumbs: %s, peers %v, sources %s", *self, list, *root)
	log.Fatal(http.ListenAndServe(u.Host, nil))
}
