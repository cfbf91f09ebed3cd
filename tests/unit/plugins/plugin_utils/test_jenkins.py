"""Jenkins job configurations compared by meaning: what Jenkins adds when it stores a configuration (XML 1.1
declaration, plugin="name@version" attributes, its own layout) is no change; any element, attribute or value is."""

import pytest

from ansible_collections.aiinfra.cluster.plugins.plugin_utils.jenkins import job_config_differs, normalize_job_xml

WANTED = """<?xml version='1.0' encoding='UTF-8'?>
<flow-definition>
  <description>demo</description>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition">
    <scm class="hudson.plugins.git.GitSCM">
      <userRemoteConfigs>
        <hudson.plugins.git.UserRemoteConfig>
          <url>http://gitea-http.gitea.svc:3000/gitea_admin/demo-app.git</url>
          <credentialsId>gitea-token</credentialsId>
        </hudson.plugins.git.UserRemoteConfig>
      </userRemoteConfigs>
    </scm>
    <scriptPath>Jenkinsfile</scriptPath>
  </definition>
</flow-definition>
"""

# The same job the way Jenkins' config.xml endpoint gives it back after a POST: XStream's declaration 1.1, plugin
# attributes and layout (reconstructed from that format; no Jenkins runs on the build machines).
STORED = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job@1436.vfa_244484591">
<description>demo</description>
<definition class="org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition" plugin="workflow-cps@3903.v48a_8836749e9">
<scm class="hudson.plugins.git.GitSCM" plugin="git@5.5.2">
<userRemoteConfigs><hudson.plugins.git.UserRemoteConfig>
<url>http://gitea-http.gitea.svc:3000/gitea_admin/demo-app.git</url>
<credentialsId>gitea-token</credentialsId>
</hudson.plugins.git.UserRemoteConfig></userRemoteConfigs>
</scm>
<scriptPath>Jenkinsfile</scriptPath>
</definition>
</flow-definition>"""


def test_jenkins_reserialisation_is_no_change():
    assert STORED != WANTED
    assert normalize_job_xml(STORED) == normalize_job_xml(WANTED)
    assert job_config_differs(STORED, WANTED) is False
    assert job_config_differs(STORED.encode(), WANTED) is False  # bytes as python-jenkins may hand them


@pytest.mark.parametrize("old, new", [
    ("<credentialsId>gitea-token<", "<credentialsId>other<"),          # a value
    ('class="hudson.plugins.git.GitSCM"', 'class="hudson.scm.NullSCM"'),  # an attribute other than plugin
    ("<scriptPath>Jenkinsfile</scriptPath>", ""),                       # an element
])
def test_real_changes_count(old, new):
    assert old in STORED
    assert job_config_differs(STORED.replace(old, new), WANTED) is True


def test_missing_job_differs():
    assert job_config_differs("", WANTED) is True
    assert job_config_differs(None, WANTED) is True
    assert job_config_differs("  \n", WANTED) is True


def test_not_xml_raises():
    with pytest.raises(SyntaxError):
        normalize_job_xml("<flow-definition>")
