package manifests_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// clusterServiceBroker is servicecatalog.k8s.io/v1beta1's ClusterServiceBroker, field for
// field as kubernetes-sigs/service-catalog (archived) declares it, so that a misspelt field
// fails to decode.
type clusterServiceBroker struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		URL                   string           `json:"url"`
		InsecureSkipTLSVerify bool             `json:"insecureSkipTLSVerify,omitempty"`
		CABundle              []byte           `json:"caBundle,omitempty"`
		RelistBehavior        string           `json:"relistBehavior,omitempty"`
		RelistDuration        *metav1.Duration `json:"relistDuration,omitempty"`
		RelistRequests        int64            `json:"relistRequests,omitempty"`
		CatalogRestrictions   *struct {
			ServiceClass []string `json:"serviceClass,omitempty"`
			ServicePlan  []string `json:"servicePlan,omitempty"`
		} `json:"catalogRestrictions,omitempty"`
		AuthInfo *struct {
			Basic  *secretAuth `json:"basic,omitempty"`
			Bearer *secretAuth `json:"bearer,omitempty"`
		} `json:"authInfo,omitempty"`
	} `json:"spec"`
}

type secretAuth struct {
	SecretRef *struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"secretRef,omitempty"`
}

// decoder decodes the kinds the manifests hold, strictly: an unknown or duplicate field is an
// error.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// rendered is what a kustomization renders, each object decoded into its Go type.
type rendered struct {
	objects []any
	// names is each object's kind and name, "Deployment/omnibroker".
	names []string
}

// render runs kustomize (the library, at the version go.mod pins) on the kustomization in dir
// and decodes every object it renders strictly.
func render(dir string) rendered {
	GinkgoHelper()
	return renderFs(filesys.MakeFsOnDisk(), dir)
}

func renderFs(fs filesys.FileSystem, dir string) rendered {
	GinkgoHelper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	Expect(err).NotTo(HaveOccurred(), "kustomize build %s", dir)
	var out rendered
	for _, res := range resMap.Resources() {
		data, err := res.MarshalJSON()
		Expect(err).NotTo(HaveOccurred())
		id := res.GetKind() + "/" + res.GetName()
		out.names = append(out.names, id)
		if res.GetKind() == "ClusterServiceBroker" {
			csb := &clusterServiceBroker{}
			Expect(yaml.UnmarshalStrict(data, csb)).To(Succeed(), "%s does not decode", id)
			Expect(csb.APIVersion).To(Equal("servicecatalog.k8s.io/v1beta1"))
			out.objects = append(out.objects, csb)
			continue
		}
		obj, _, err := decoder.Decode(data, nil, nil)
		Expect(err).NotTo(HaveOccurred(), "%s does not decode", id)
		out.objects = append(out.objects, obj)
	}
	return out
}

// overlay renders kustomization, an overlay's kustomization.yaml beside a copy of the base at
// ../kubernetes, as a user's overlay would refer to it, with the overlay's other files.
func overlay(kustomization string, files map[string]string) rendered {
	GinkgoHelper()
	fs := filesys.MakeFsInMemory()
	Expect(filepath.WalkDir("kubernetes", func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return fs.WriteFile(filepath.Join("/repo", path), data)
	})).To(Succeed())
	Expect(fs.WriteFile("/repo/overlay/kustomization.yaml", []byte(kustomization))).To(Succeed())
	for name, content := range files {
		Expect(fs.WriteFile(filepath.Join("/repo/overlay", name), []byte(content))).To(Succeed())
	}
	return renderFs(fs, "/repo/overlay")
}

// withComponents is an overlay of the base with the named components and nothing else.
func withComponents(components ...string) rendered {
	GinkgoHelper()
	k := "resources:\n  - ../kubernetes\ncomponents:\n"
	for _, c := range components {
		k += "  - ../kubernetes/components/" + c + "\n"
	}
	return overlay(k, nil)
}

// one is the only object of type T that r holds.
func one[T any](r rendered) T {
	GinkgoHelper()
	all := every[T](r)
	Expect(all).To(HaveLen(1), "one %T", *new(T))
	return all[0]
}

// every is each object of type T that r holds.
func every[T any](r rendered) []T {
	var all []T
	for _, o := range r.objects {
		if t, ok := o.(T); ok {
			all = append(all, t)
		}
	}
	return all
}
