"""Rendered Kubernetes manifests run on a Docker engine the way a kubelet
would run them (no cluster can be had on these machines): `podrun.kubelet`."""
