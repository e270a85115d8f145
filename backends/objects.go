package backends

import (
	"fmt"
	"regexp"
	"slices"
)

// ObjectKind is the kind of a named object the broker makes on a node.
type ObjectKind string

// The kinds of object the adapters make, and which adapters make them.
const ObjectDatabase ObjectKind = "database"    // postgres, mysql
const ObjectRole ObjectKind = "role"            // postgres: owner and binding roles
const ObjectUser ObjectKind = "user"            // mysql, redis (ACL users), rabbitmq
const ObjectKeyPrefix ObjectKind = "key-prefix" // redis
const ObjectVhost ObjectKind = "vhost"          // rabbitmq

// Object is one object on a node that carries the broker's naming.
type Object struct {
	Kind ObjectKind `json:"kind"`
	Name string     `json:"name"`
}

// String is the kind and the name, "database ob_5f…".
func (o Object) String() string { return string(o.Kind) + " " + o.Name }

// ListObjectsRequest asks for the objects on Node that carry the broker's naming.
type ListObjectsRequest struct {
	Node string
}

// ListObjectsResponse lists them in an order in which RemoveObject may remove them one after
// the other (a login before the database or vhost it reaches, a PostgreSQL database before
// the owner role it depends on).
type ListObjectsResponse struct {
	Objects []Object
}

// RemoveObjectRequest asks for Object on Node to go, whoever made it.
type RemoveObjectRequest struct {
	Node   string
	Object Object
}

// OwnedRequest asks which objects Provision makes for Instance and Bind for each of Bindings.
type OwnedRequest struct {
	Instance Instance
	Bindings []Binding
}

// OwnedResponse names the objects of an instance and its bindings, as ListObjects names them.
type OwnedResponse struct {
	// Instance are the instance's objects that must be on its node: one that is gone lost the
	// instance's data (a database, a vhost, a PostgreSQL owner role).
	Instance []Object
	// Kept are the instance's objects whose absence loses nothing, so that ListObjects may or
	// may not list them (a Redis key prefix without keys is an empty instance).
	Kept []Object
	// Bindings are, per binding id, the objects of its login.
	Bindings map[string][]Object
}

// NotOurs is the permanent error of RemoveObject asked for an object without the broker's
// naming (or, on node, one taken by someone else), which it never removes.
func NotOurs(node string, o Object) error {
	return Permanent(fmt.Sprintf("%s on node %s is not one the broker made, so it does not remove it", o, node), nil)
}

var (
	hashedName = regexp.MustCompile(`^[0-9a-f]{24}$`)
	loginName  = regexp.MustCompile(`^ob_([a-z2-7]{26}|[0-9a-f]{12}_[0-9a-f]{12})$`)
)

// IsName reports whether s is a Name with prefix: prefix and 24 hex characters.
func IsName(prefix, s string) bool {
	return len(s) == len(prefix)+24 && s[:len(prefix)] == prefix && hashedName.MatchString(s[len(prefix):])
}

// IsUserName reports whether s is a UserName, of today's bindings or of legacy ones.
func IsUserName(s string) bool { return loginName.MatchString(s) }

// LoginsOwned is the OwnedResponse of the adapters whose logins are UserName users (mysql,
// redis, rabbitmq): instance are the instance's objects that must be there, and each binding's
// login is its user.
func LoginsOwned(req OwnedRequest, instance ...Object) OwnedResponse {
	res := OwnedResponse{Instance: instance, Bindings: make(map[string][]Object, len(req.Bindings))}
	for _, b := range req.Bindings {
		res.Bindings[b.ID] = []Object{{Kind: ObjectUser, Name: UserName(req.Instance.ID, b)}}
	}
	return res
}

// Users are the objects of the names among names that are UserNames, sorted.
func Users(names []string) []Object {
	var users []Object
	for _, name := range slices.Sorted(slices.Values(names)) {
		if IsUserName(name) {
			users = append(users, Object{Kind: ObjectUser, Name: name})
		}
	}
	return users
}
