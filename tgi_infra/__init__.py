"""tgi-infra: Pulumi components that serve Hugging Face TGI on Kubernetes."""

__version__ = "0.1.0"
