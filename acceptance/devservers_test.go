package acceptance_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/omnibroker/omnibroker/internal/testkit"
)

// The default catalog's plans (config/catalog.yml), which `make run` serves.
var (
	defaultPGPlan    = plan{"6a1d3c62-0f5e-4c53-9a38-4e2f0c8a7b10", "8f0b2a36-1c0e-4d7a-b1f4-2d9c3e5a6b01"}
	defaultRedisPlan = plan{"7d3a9c2e-4f1b-4a8d-b6e0-5c7f9a1b3d80", "7d3a9c2e-4f1b-4a8d-b6e0-5c7f9a1b3d81"}
)

var _ = Describe("make run's own servers (scripts/dev)", func() {
	It("serves the default catalog from a PostgreSQL and a Redis of its own, finds them again on a second start, and leaves the machine's Redis and PostgreSQL as they were", func(ctx SpecContext) {
		machineRedis := redisAdmin()
		defaultUser := machineRedis.Do(ctx, "ACL", "GETUSER", "default").String()
		hba := hbaRules(ctx, adminDB)

		dir := GinkgoT().TempDir()
		// The private cluster runs as the postgres user when we are root: it must get in.
		Expect(os.Chmod(dir, 0o755)).To(Succeed())
		dev := devServers{dir: filepath.Join(dir, "dev"), pgPort: freePort(), redisPort: freePort()}

		By("starting them")
		dev.run("start")
		DeferCleanup(dev.run, "stop")
		settings := dev.settings()
		for _, name := range []string{"DATABASE_URL", "OMNIBROKER_POSTGRES_URL", "OMNIBROKER_REDIS_URL"} {
			rememberSecret("scripts/dev's "+name, settings[name])
		}
		rememberSecret("the dev PostgreSQL's password", readFile(filepath.Join(dev.dir, "postgres", "password")))
		rememberSecret("the dev Redis's password", readFile(filepath.Join(dev.dir, "redis", "admin-password")))
		Expect(settings["OMNIBROKER_REDIS_URL"]).To(HaveSuffix("@127.0.0.1:" + strconv.Itoa(dev.redisPort)))

		By("its Redis lets the admin in and not the default user")
		_, err := redisTryLogin(ctx, "redis://127.0.0.1:"+strconv.Itoa(dev.redisPort))
		Expect(err).To(HaveOccurred(), "the dev Redis's default user is off")

		By("its PostgreSQL wants the password")
		_, err = testkit.PostgresLogin(ctx, GinkgoT(), "postgres://postgres@127.0.0.1:"+strconv.Itoa(dev.pgPort)+"/postgres?sslmode=disable")
		Expect(err).To(HaveOccurred(), "the dev PostgreSQL lets postgres in without a password")

		By("serving the default catalog from them, as make run does")
		b := startBroker(stateDB{name: "omnibroker", url: settings["DATABASE_URL"]}, map[string]string{
			"OMNIBROKER_CONFIG":       filepath.Join("..", "config", "catalog.yml"),
			"OMNIBROKER_POSTGRES_URL": settings["OMNIBROKER_POSTGRES_URL"],
			"OMNIBROKER_REDIS_URL":    settings["OMNIBROKER_REDIS_URL"],
		})
		cf := b.client()
		redisCreds := provisionAndBind(cf, defaultRedisPlan)
		Expect(redisCreds["port"]).To(BeEquivalentTo(dev.redisPort))
		app := redisLogin(ctx, redisCreds.str("uri"))
		Expect(app.Set(ctx, redisCreds.str("key_prefix")+"greeting", "hello", 0).Err()).To(Succeed())
		pgCreds := provisionAndBind(cf, defaultPGPlan)
		Expect(pgCreds["port"]).To(BeEquivalentTo(dev.pgPort))
		pg, err := testkit.PostgresLogin(ctx, GinkgoT(), pgCreds.str("uri"))
		Expect(err).NotTo(HaveOccurred(), "logging in to the dev PostgreSQL with the binding's credentials")
		_, err = pg.ExecContext(ctx, "CREATE TABLE t (x int)")
		Expect(err).NotTo(HaveOccurred())

		By("a second start finds them running, with the same logins and what they hold")
		dev.run("start")
		Expect(dev.settings()).To(Equal(settings))
		Expect(app.Get(ctx, redisCreds.str("key_prefix")+"greeting").Val()).To(Equal("hello"))
		Expect(pg.PingContext(ctx)).To(Succeed())

		By("the machine's Redis and PostgreSQL are as they were")
		Expect(machineRedis.Do(ctx, "ACL", "GETUSER", "default").String()).To(Equal(defaultUser))
		Expect(hbaRules(ctx, adminDB)).To(Equal(hba))
	})
})

// provisionAndBind provisions an instance of p and binds it, as Cloud Foundry does, and
// returns the credentials; both are removed when the spec ends.
func provisionAndBind(cf *osbClient, p plan) credentials {
	GinkgoHelper()
	id, binding := newID(), newID()
	cf.provisionReady(id, p, nil)
	DeferCleanup(cf.deprovisionGone, id, p)
	creds := cf.bindReady(id, binding, p, newID())
	DeferCleanup(cf.unbindGone, id, binding, p)
	return creds
}

// devServers runs scripts/dev with a directory and ports of its own.
type devServers struct {
	dir               string
	pgPort, redisPort int
}

// run runs scripts/dev with arg and returns its standard output; it fails the spec if the
// script fails, or if its messages show a password.
func (d devServers) run(arg string) string {
	GinkgoHelper()
	cmd := exec.Command(filepath.Join("..", "scripts", "dev"), arg)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OMNIBROKER_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "OMNIBROKER_DEV_DIR="+d.dir,
		"OMNIBROKER_DEV_POSTGRES_PORT="+strconv.Itoa(d.pgPort), "OMNIBROKER_DEV_REDIS_PORT="+strconv.Itoa(d.redisPort))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	GinkgoWriter.Print(stderr.String())
	Expect(err).NotTo(HaveOccurred(), "scripts/dev %s: %s", arg, stderr.String())
	for _, secret := range knownSecrets() {
		Expect(stderr.String()).NotTo(ContainSubstring(secret.value), "scripts/dev %s printed %s", arg, secret.label)
	}
	return string(out)
}

// settings is what `scripts/dev env` prints, NAME='value' a line.
func (d devServers) settings() map[string]string {
	GinkgoHelper()
	settings := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(d.run("env")), "\n") {
		name, value, ok := strings.Cut(line, "=")
		Expect(ok).To(BeTrue(), "a line of scripts/dev env is NAME='value'")
		settings[name] = strings.Trim(value, "'")
	}
	return settings
}

// hbaRules is the server's pg_hba.conf as it reads the file now, whether loaded or not.
func hbaRules(ctx context.Context, db *sql.DB) []string {
	GinkgoHelper()
	rules, err := testkit.QueryStrings(ctx, db, `
SELECT concat_ws(' ', type, database::text, user_name::text, address, netmask, auth_method, options::text, error)
FROM pg_hba_file_rules
ORDER BY line_number`)
	Expect(err).NotTo(HaveOccurred())
	return rules
}

func readFile(path string) string {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(string(b))
}
