package main

import (
	"fmt"
	"os/user"
	"strconv"

	"github.com/vipa-exec/vipa-exec/internal/launch"
)

// lookupCredential resolves --user and --group before anything starts, so
// that a typo never leaves a half-started program behind. With --user the
// supplementary groups are USER's, as login(1) sets them; --group alone
// clears them, so root's groups do not leak to PROGRAM.
func lookupCredential(userName, groupName string) (*launch.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	c := &launch.Credential{}
	if groupName != "" {
		gid, err := lookupGroup(groupName)
		if err != nil {
			return nil, err
		}
		c.GID, c.SetGID = gid, true
	}
	if userName == "" {
		return c, nil
	}
	u, err := lookupUser(userName)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("--user %s: uid %q: %w", userName, u.Uid, err)
	}
	c.UID, c.SetUID = uint32(uid), true
	if !c.SetGID {
		if u.Gid == "" {
			return nil, fmt.Errorf("--user %s: no such user in the user database; give --group too", userName)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %s: gid %q: %w", userName, u.Gid, err)
		}
		c.GID, c.SetGID = uint32(gid), true
	}
	c.Groups = []uint32{c.GID}
	if u.Username == "" {
		return c, nil // a bare number: no group database entry to consult
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("--user %s: supplementary groups: %w", userName, err)
	}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user %s: group id %q: %w", userName, id, err)
		}
		if uint32(g) != c.GID {
			c.Groups = append(c.Groups, uint32(g))
		}
	}
	return c, nil
}

// lookupUser finds a user by name, then by number; a number that is not in
// the database is still a valid uid.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, perr := strconv.ParseUint(name, 10, 32); perr != nil {
		return nil, fmt.Errorf("--user %s: %w", name, err)
	}
	if u, err := user.LookupId(name); err == nil {
		return u, nil
	}
	return &user.User{Uid: name}, nil
}

// lookupGroup finds a group by name, then by number.
func lookupGroup(name string) (uint32, error) {
	if g, err := user.LookupGroup(name); err == nil {
		gid, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("--group %s: gid %q: %w", name, g.Gid, err)
		}
		return uint32(gid), nil
	}
	gid, err := strconv.ParseUint(name, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("--group %s: no such group", name)
	}
	return uint32(gid), nil
}
