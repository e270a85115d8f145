package manifests_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

var _ = Describe("The Kubernetes base", func() {
	var base rendered
	BeforeEach(func() { base = render("kubernetes") })

	It("renders a Namespace, a ServiceAccount, the Secret template, the catalog's ConfigMap, a Deployment, a PodDisruptionBudget and a Service, all in that namespace", func() {
		Expect(base.names).To(ConsistOf("Namespace/omnibroker", "ServiceAccount/omnibroker", "Secret/omnibroker",
			HavePrefix("ConfigMap/omnibroker-catalog-"), "Deployment/omnibroker", "PodDisruptionBudget/omnibroker", "Service/omnibroker"))
		ns := one[*corev1.Namespace](base).Name
		for i, o := range base.objects {
			if _, isNamespace := o.(*corev1.Namespace); !isNamespace {
				Expect(o.(metav1.Object).GetNamespace()).To(Equal(ns), base.names[i])
			}
		}
	})

	It("runs two replicas as a non-root user on a read-only root filesystem, with requests and limits, probed on /readyz and /healthz", func() {
		d := one[*appsv1.Deployment](base)
		Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
		pod := d.Spec.Template.Spec
		Expect(pod.ServiceAccountName).To(Equal(one[*corev1.ServiceAccount](base).Name))
		Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		Expect(pod.SecurityContext.RunAsUser).To(HaveValue(BeNumerically(">", 0)))
		Expect(pod.Containers).To(HaveLen(1))
		c := pod.Containers[0]
		Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
		Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
		Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceCPU))
		Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceMemory))
		Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory))
		Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		Expect(selects(d.Spec.Selector.MatchLabels, d)).To(BeTrue(), "the Deployment's selector selects its pods")
	})

	It("keeps a replica through a voluntary disruption, and its Service sends requests to the pods' API port", func() {
		d := one[*appsv1.Deployment](base)
		pdb := one[*policyv1.PodDisruptionBudget](base)
		Expect(pdb.Spec.MinAvailable).NotTo(BeNil())
		Expect(pdb.Spec.MinAvailable.IntValue()).To(BeNumerically(">=", 1))
		Expect(pdb.Spec.MinAvailable.IntValue()).To(BeNumerically("<", int(*d.Spec.Replicas)))
		Expect(selects(pdb.Spec.Selector.MatchLabels, d)).To(BeTrue(), "the PodDisruptionBudget selects the pods")
		svc := one[*corev1.Service](base)
		Expect(selects(svc.Spec.Selector, d)).To(BeTrue(), "the Service selects the pods")
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(containerPort(d, svc.Spec.Ports[0].TargetPort.String())).To(Equal(listenPort(d)))
	})

	It("sets only variables that omnibroker serve reads with the catalog it mounts, and every one it requires", func() {
		d := one[*appsv1.Deployment](base)
		read := servedSettings(mountedCatalog(base))
		set := map[string]bool{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			Expect(read).To(HaveKey(e.Name), "omnibroker serve does not read %s", e.Name)
			set[e.Name] = true
		}
		for name, s := range read {
			if s.required {
				Expect(set).To(HaveKey(name), "omnibroker serve requires %s", name)
			}
		}
		// OMNIBROKER_CONFIG names the file the ConfigMap's volume puts there.
		Expect(envValue(d, "OMNIBROKER_CONFIG")).To(Equal(filepath.Join(catalogMount(d), "catalog.yml")))
	})

	It("takes every secret key from the Secret template, which holds no key that nothing reads", func() {
		d := one[*appsv1.Deployment](base)
		secret := one[*corev1.Secret](base)
		used := map[string]bool{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			Expect(ref.Name).To(Equal(secret.Name), e.Name)
			used[ref.Key] = true
			if ref.Optional == nil || !*ref.Optional {
				Expect(secret.StringData).To(HaveKey(ref.Key), "%s reads key %s", e.Name, ref.Key)
			}
		}
		for key := range secret.StringData {
			Expect(used).To(HaveKey(key), "no variable reads the Secret's key %s", key)
		}
		Expect(secret.Data).To(BeEmpty())
	})

	It("mounts a catalog that omnibroker accepts, offering the services of config/catalog.yml", func() {
		path := mountedCatalog(base)
		check := exec.Command(binary, "catalog", "check", path)
		out, err := check.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(services(path)).To(Equal(services("../config/catalog.yml")))
	})

	It("as it is, with its Secret's CHANGE-ME values, does not start", func() {
		env := podEnv(base)
		env["OMNIBROKER_CONFIG"] = mountedCatalog(base)
		cmd := exec.Command(binary, "serve")
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(30e9).Should(gexec.Exit(1))
		Expect(string(session.Err.Contents())).To(ContainSubstring("OMNIBROKER_ENCRYPTION_KEY"))
	})
})

var _ = Describe("The Kubernetes components", func() {
	It("service-catalog registers the Service's URL with the Secret's username and password, which the broker logs the platform in with", func() {
		r := withComponents("service-catalog")
		csb := one[*clusterServiceBroker](r)
		svc := one[*corev1.Service](r)
		Expect(csb.Spec.URL).To(Equal(fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)))
		secret := one[*corev1.Secret](r)
		ref := csb.Spec.AuthInfo.Basic.SecretRef
		Expect([]string{ref.Namespace, ref.Name}).To(Equal([]string{secret.Namespace, secret.Name}))
		// The OSB basic auth is the keys username and password, and the broker checks the same.
		d := one[*appsv1.Deployment](r)
		Expect(secretKey(d, "OMNIBROKER_USERNAME")).To(Equal("username"))
		Expect(secretKey(d, "OMNIBROKER_PASSWORD")).To(Equal("password"))
	})

	It("service-monitor scrapes the Service's pods on one of its ports", func() {
		r := withComponents("service-monitor")
		sm := one[*monitoringv1.ServiceMonitor](r)
		svc := one[*corev1.Service](r)
		Expect(sm.Namespace).To(Equal(svc.Namespace))
		Expect(labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels))).To(BeTrue(), "the ServiceMonitor selects the Service")
		Expect(sm.Spec.Endpoints).To(HaveLen(1))
		var names []string
		for _, p := range svc.Spec.Ports {
			names = append(names, p.Name)
		}
		Expect(names).To(ContainElement(sm.Spec.Endpoints[0].Port))
	})

	It("render together, and omnibroker serves every probe's path and the ServiceMonitor's on the ports they name, without credentials", func() {
		r := withComponents("service-catalog", "service-monitor")
		d := one[*appsv1.Deployment](r)
		env := podEnv(r)
		env["OMNIBROKER_CONFIG"] = mountedCatalog(r)
		env["DATABASE_URL"] = databaseURL(newStateDatabase())
		env["OMNIBROKER_ENCRYPTION_KEY"] = randomKey()
		base, _ := startBroker(env)
		c := d.Spec.Template.Spec.Containers[0]
		for _, probe := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if probe == nil {
				continue
			}
			Expect(containerPort(d, probe.HTTPGet.Port.String())).To(Equal(listenPort(d)))
			Eventually(status).WithArguments(base, probe.HTTPGet.Path).Should(Equal(http.StatusOK), probe.HTTPGet.Path)
		}
		sm := one[*monitoringv1.ServiceMonitor](r)
		svc := one[*corev1.Service](r)
		for _, p := range svc.Spec.Ports {
			if p.Name == sm.Spec.Endpoints[0].Port {
				Expect(containerPort(d, p.TargetPort.String())).To(Equal(listenPort(d)))
			}
		}
		Expect(status(base, sm.Spec.Endpoints[0].Path)).To(Equal(http.StatusOK), sm.Spec.Endpoints[0].Path)
	})
})

var _ = Describe("The README's overlay", func() {
	It("renders with both components, names its image, and the Deployment and the ClusterServiceBroker follow the Secret it generates", func() {
		readme, err := os.ReadFile("../README.md")
		Expect(err).NotTo(HaveOccurred())
		m := regexp.MustCompile("(?s)```yaml\n# my-omnibroker/kustomization.yaml\n(.*?)```").FindSubmatch(readme)
		Expect(m).NotTo(BeNil(), "README: no block of my-omnibroker/kustomization.yaml")
		// omnibroker.env with the template's keys, as the README says to write it.
		var env strings.Builder
		for key := range one[*corev1.Secret](render("kubernetes")).StringData {
			fmt.Fprintf(&env, "%s=value-of-%s\n", key, key)
		}
		r := overlay(string(m[1]), map[string]string{"omnibroker.env": env.String()})
		Expect(r.names).To(ContainElements("ClusterServiceBroker/omnibroker", "ServiceMonitor/omnibroker"))
		d := one[*appsv1.Deployment](r)
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.mycompany.example/omnibroker:1.2.3"))
		secret := one[*corev1.Secret](r)
		Expect(secret.Data).To(HaveKeyWithValue("encryption-key", []byte("value-of-encryption-key")))
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				Expect(e.ValueFrom.SecretKeyRef.Name).To(Equal(secret.Name), e.Name)
			}
		}
		Expect(one[*clusterServiceBroker](r).Spec.AuthInfo.Basic.SecretRef.Name).To(Equal(secret.Name))
	})
})

// selects tells whether matchLabels selects d's pods.
func selects(matchLabels map[string]string, d *appsv1.Deployment) bool {
	return len(matchLabels) > 0 && labels.SelectorFromSet(matchLabels).Matches(labels.Set(d.Spec.Template.Labels))
}

// listenPort is the port of the address the Deployment's OMNIBROKER_LISTEN names.
func listenPort(d *appsv1.Deployment) int32 {
	GinkgoHelper()
	_, port, err := net.SplitHostPort(envValue(d, "OMNIBROKER_LISTEN"))
	Expect(err).NotTo(HaveOccurred())
	n, err := strconv.Atoi(port)
	Expect(err).NotTo(HaveOccurred())
	return int32(n)
}

// containerPort is the number of the container's port called nameOrNumber, or that number.
func containerPort(d *appsv1.Deployment, nameOrNumber string) int32 {
	GinkgoHelper()
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == nameOrNumber || strconv.Itoa(int(p.ContainerPort)) == nameOrNumber {
			return p.ContainerPort
		}
	}
	Fail("the container has no port " + nameOrNumber)
	return 0
}

// envValue is the literal value the container gives the variable name.
func envValue(d *appsv1.Deployment, name string) string {
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// secretKey is the Secret's key the container's variable name comes from.
func secretKey(d *appsv1.Deployment, name string) string {
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef.Key
		}
	}
	return ""
}

// podEnv is the container's environment as a pod of r would have it, with r's Secret.
func podEnv(r rendered) map[string]string {
	d := one[*appsv1.Deployment](r)
	secret := one[*corev1.Secret](r)
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			if v, ok := secret.StringData[e.ValueFrom.SecretKeyRef.Key]; ok {
				env[e.Name] = v
			}
		}
	}
	return env
}

// catalogMount is where the container mounts the catalog's ConfigMap.
func catalogMount(d *appsv1.Deployment) string {
	GinkgoHelper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.Name == v.Name {
				return m.MountPath
			}
		}
	}
	Fail("the container mounts no ConfigMap")
	return ""
}

// mountedCatalog writes the catalog.yml of the ConfigMap the Deployment mounts to a file,
// and returns its path.
func mountedCatalog(r rendered) string {
	GinkgoHelper()
	d := one[*appsv1.Deployment](r)
	var name string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			name = v.ConfigMap.Name
		}
	}
	for _, cm := range every[*corev1.ConfigMap](r) {
		if cm.Name == name {
			Expect(cm.Data).To(HaveKey("catalog.yml"))
			path := filepath.Join(GinkgoT().TempDir(), "catalog.yml")
			Expect(os.WriteFile(path, []byte(cm.Data["catalog.yml"]), 0o644)).To(Succeed())
			return path
		}
	}
	Fail("no ConfigMap " + name + ", which the Deployment mounts")
	return ""
}

// services is the services section of the catalog file at path, its YAML anchors resolved.
func services(path string) any {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var cat map[string]any
	Expect(yaml.Unmarshal(data, &cat)).To(Succeed())
	Expect(cat).To(HaveKey("services"))
	return cat["services"]
}

// randomKey is an encryption key for a broker the spec starts.
func randomKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}
