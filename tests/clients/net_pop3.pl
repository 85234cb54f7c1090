#!/usr/bin/perl
# Perl's Net::POP3 (libnet), driven the way a mail-fetching script drives it.
#
#   perl net_pop3.pl HOST PORT USER PASSWORD LOGIN [CA_FILE]
#
# LOGIN is "user" (USER/PASS), "apop", "sasl:MECHANISM" (AUTH through Authen::SASL) or
# "starttls" (STLS, certificate checked against CA_FILE, then USER/PASS). The script prints
# what it learned, one fact a line, writes message n to msg.n as Net::POP3 returned it,
# deletes message 1 and quits.
use strict;
use warnings;
use Net::POP3;

my ($host, $port, $user, $password, $login, $ca_file) = @ARGV;
my $pop = Net::POP3->new($host, Port => $port, Timeout => 20)
    or die "connect failed: $@\n";

my $count;
if ($login eq 'apop') {
    $count = $pop->apop($user, $password);
} elsif ($login =~ /^sasl:(.+)$/) {
    require Authen::SASL;
    my $sasl = Authen::SASL->new(
        mechanism => $1,
        callback  => { user => $user, pass => $password, authname => $user },
    );
    $pop->auth($sasl) or die 'login failed: ' . $pop->message;
    ($count) = $pop->popstat;
} else {
    if ($login eq 'starttls') {
        $pop->starttls(SSL_ca_file => $ca_file, SSL_verifycn_name => 'localhost')
            or die "starttls failed\n";
        print "tls ", ($pop->can('get_cipher') ? $pop->get_cipher : 'yes'), "\n";
    }
    $count = $pop->login($user, $password);
}
defined $count or die 'login failed: ' . $pop->message;
printf "count %d\n", $count;

my $capa = $pop->capa or die "CAPA failed\n";
print 'capa ', join(',', sort keys %$capa), "\n";

my $list = $pop->list or die "LIST failed\n";
my $uidl = $pop->uidl or die "UIDL failed\n";
for my $n (sort { $a <=> $b } keys %$list) {
    print "message $n $list->{$n} $uidl->{$n}\n";
}
my $top = $pop->top(1, 0) or die "TOP failed\n";
print 'top ', scalar(@$top), " lines\n";

for my $n (sort { $a <=> $b } keys %$list) {
    my $lines = $pop->get($n) or die "RETR $n failed\n";
    open(my $out, '>:raw', "msg.$n") or die "msg.$n: $!\n";
    print $out @$lines;
    close($out);
}
$pop->delete(1) or die "DELE failed\n";
$pop->quit or die "QUIT failed\n";
print "done\n";
