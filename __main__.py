"""tgi-infra: TGI on EKS. Config: stacks/Pulumi.<stack>.yaml (key tgi-infra:platform)."""

from tgi_infra.program import main

main()
