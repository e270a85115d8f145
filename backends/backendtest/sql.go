package backendtest

import (
	"context"
	"database/sql"
	"net/url"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/backends"
	"github.com/omnibroker/omnibroker/internal/testkit"
)

// ExpectTableShared checks that the applications of two bindings of one database share its
// tables: app1 creates table notes (id, body) with createNotes, in its server's dialect, and
// adds the note first (a constant of the spec's, without quotes); app2 adds a note of its own
// and counts both.
func ExpectTableShared(ctx context.Context, app1, app2 *sql.DB, createNotes, first string) {
	ginkgo.GinkgoHelper()
	_, err := app1.ExecContext(ctx, createNotes)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	_, err = app1.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('`+first+`')`)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	_, err = app2.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('from app 2')`)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	var count int
	gomega.Expect(app2.QueryRowContext(ctx, `SELECT COUNT(*) FROM notes`).Scan(&count)).To(gomega.Succeed())
	gomega.Expect(count).To(gomega.Equal(2))
}

// ExpectBindsSharingTables binds two bindings to inst: it checks the first's credentials against
// what want says of that binding (ExpectSQLCredentials), logs each application in with login,
// and checks that they share tables (ExpectTableShared with createNotes and first). It returns
// the first binding, its uri and the two logins, for the checks of the server's own.
func (s *Suite[A, B]) ExpectBindsSharingTables(ctx context.Context, inst backends.Instance,
	want func(backends.Binding) SQLCredentials, login func(context.Context, backends.Credentials) *sql.DB,
	createNotes, first string,
) (b1 backends.Binding, uri *url.URL, app1, app2 *sql.DB) {
	ginkgo.GinkgoHelper()
	b1, creds1 := s.Bound(ctx, inst)
	uri = ExpectSQLCredentials(creds1, want(b1))
	_, creds2 := s.Bound(ctx, inst)
	app1, app2 = login(ctx, creds1), login(ctx, creds2)
	ExpectTableShared(ctx, app1, app2, createNotes, first)
	return b1, uri, app1, app2
}

// Session opens a session of its own on db, held until the spec ends; its close after the
// spec ignores the error of a session the server has ended first.
func Session(ctx context.Context, db *sql.DB) *sql.Conn {
	ginkgo.GinkgoHelper()
	session, err := db.Conn(ctx)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	ginkgo.DeferCleanup(func() { _ = session.Close() })
	return session
}

// LiveSession opens a Session on db and creates table kept_open in it, so that a drop has a
// live session to end.
func LiveSession(ctx context.Context, db *sql.DB) *sql.Conn {
	ginkgo.GinkgoHelper()
	live := Session(ctx, db)
	_, err := live.ExecContext(ctx, `CREATE TABLE kept_open (id int)`)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return live
}

// QueryStrings runs query, which returns one text column, on db and returns its values in
// the order of the rows; a failure fails the spec.
func QueryStrings(ctx context.Context, db testkit.Querier, query string, args ...any) []string {
	ginkgo.GinkgoHelper()
	values, err := testkit.QueryStrings(ctx, db, query, args...)
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return values
}

// Notes is the Data of ItRemovesOrphans for a SQL database that login opens with a binding's
// credentials: a note in table kept_note, written and read back.
func Notes(login func(context.Context, backends.Credentials) *sql.DB) Data {
	return Data{
		Write: func(ctx context.Context, _ backends.Instance, b Bound) {
			db := login(ctx, b.Credentials)
			_, err := db.ExecContext(ctx, `CREATE TABLE kept_note (body varchar(20))`)
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
			_, err = db.ExecContext(ctx, `INSERT INTO kept_note (body) VALUES ('kept')`)
			gomega.Expect(err).NotTo(gomega.HaveOccurred())
		},
		Works: func(ctx context.Context, _ backends.Instance, b Bound) {
			got := QueryStrings(ctx, login(ctx, b.Credentials), `SELECT body FROM kept_note`)
			gomega.Expect(got).To(gomega.Equal([]string{"kept"}))
		},
	}
}
