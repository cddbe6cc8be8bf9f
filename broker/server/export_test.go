package server

import "time"

// SetClientCacheTTL lets a test keep cached clients long enough that only
// an invalidation can empty the cache.
func SetClientCacheTTL(s *Server, d time.Duration) { s.clients.ttl.Store(int64(d)) }

// OpenOn opens a server on st, as Open does on the store its
// configuration names.
var OpenOn = open
